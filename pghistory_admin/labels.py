"""Labels of deleted objects, from their last recorded values.

A deleted row has no ``str()`` any more, but its history holds its values: the newest event of
the object (its delete, when deletes are tracked) rebuilds an unsaved instance, whose ``str()``
is the name the object had last. One query per model, on the ``(pgh_obj, pgh_id)`` index.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import models

from pghistory_admin.permissions import event_models_of

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = ["last_labels"]


def _fullest(model: type[models.Model]) -> type[Event] | None:
    """The event model of ``model`` recording the most of its fields (all, usually)."""
    candidates = event_models_of(model)
    if not candidates:
        return None
    return max(candidates, key=lambda event_model: len(event_model.pgh_tracked_fields))


def _label(model: type[models.Model], event: Any, tracked: Iterable[str]) -> str | None:
    names = set(tracked)
    values = {
        field.attname: getattr(event, field.attname)
        for field in model._meta.concrete_fields
        if field.name in names
    }
    try:
        label = str(model(**values))
    except Exception:  # a __str__ that needs more than the recorded values
        return None
    return label or None


def last_labels(
    model: type[models.Model], pks: Iterable[Any], using: str | None = None
) -> dict[Any, str]:
    """``{pk: str() of the object as last recorded}`` for the objects of ``pks`` with events."""
    wanted = {str(pk): pk for pk in pks}
    event_model = _fullest(model)
    if event_model is None or not wanted:
        return {}
    # ``pgh_obj`` is added by track(), not declared on the abstract Event the type checker sees.
    objects = {"pgh_obj_id__in": list(wanted.values())}
    newest = (
        event_model._default_manager.db_manager(using)
        .filter(**objects)
        .order_by("pgh_obj_id", "-pgh_id")
        .distinct("pgh_obj_id")
    )
    labels = {}
    for event in newest:
        label = _label(model, event, event_model.pgh_tracked_fields)
        pk = wanted.get(str(event.pgh_obj_id))  # type: ignore[attr-defined,unused-ignore]
        if label is not None and pk is not None:
            labels[pk] = label
    return labels
