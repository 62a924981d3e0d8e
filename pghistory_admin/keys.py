"""Primary keys of tracked objects: an id as a URL or a filter gives it, and key changes.

``parse_object_id`` reads an object id (admin-quoted or not) as the model's primary key.

Events follow their row by primary key, so an UPDATE that changes the key starts a second
history under the new key. The event triggers record each such change (``KeyChange``): the
event under the new key, the old key and the new one. The other lookups read it both ways.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from pghistory_admin.permissions import event_models_of
from pghistory_core.models import Events, KeyChange

__all__ = ["parse_object_id", "previous_data", "renamed_from", "renamed_to"]


def parse_object_id(model: type[models.Model], value: str) -> Any:
    """``value`` as a primary key of ``model`` (admin-quoted or not); ``ValidationError`` if not."""
    pk_field = model._meta.pk
    text = unquote(value)
    if "\x00" in text:
        # Postgres text cannot hold NUL: the query would fail, not match nothing.
        raise ValidationError(_("Null characters are not allowed."), code="null_characters")
    pk = pk_field.to_python(text)
    # The validators carry the database's integer range: out-of-range ids never reach SQL.
    pk_field.run_validators(pk)
    return pk


def _labels(model: type[models.Model]) -> list[str]:
    return [event_model._meta.label for event_model in event_models_of(model)]


def renamed_to(
    model: type[models.Model], pks: Iterable[Any], using: str | None = None
) -> dict[Any, str]:
    """``{old pk: the key it was changed to last}`` for those of ``pks`` whose key changed."""
    wanted = {str(pk): pk for pk in pks}
    labels = _labels(model)
    if not wanted or not labels:
        return {}
    changes = (
        KeyChange.objects.using(using)
        .filter(event_model__in=labels, old_obj_id__in=list(wanted))
        .order_by("pgh_id")
        .values_list("old_obj_id", "new_obj_id")
    )
    return {wanted[old]: new for old, new in changes}


def renamed_from(
    events: Iterable[tuple[str, int]], using: str | None = None
) -> dict[int, KeyChange]:
    """``{pgh_id: KeyChange}`` of the events (``(event model label, pgh_id)``) that changed a key."""
    pairs = list(events)
    if not pairs:
        return {}
    wanted = set(pairs)
    changes = KeyChange.objects.using(using).filter(pgh_id__in=[pgh_id for _, pgh_id in pairs])
    return {
        change.pgh_id: change for change in changes if (change.event_model, change.pgh_id) in wanted
    }


def previous_data(
    event_model: str, change: KeyChange, using: str | None = None
) -> dict[str, Any] | None:
    """The values recorded last under the old key before the change (``pgh_data``), if any."""
    previous = (
        Events.objects.using(using)
        .by_attname()
        .across(event_model)
        .filter(pgh_obj_id=change.old_obj_id, pgh_id__lt=change.pgh_id)
        .order_by("-pgh_id")
        .values_list("pgh_data", flat=True)
        .first()
    )
    return previous if isinstance(previous, dict) else None
