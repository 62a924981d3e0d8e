"""One object's values as safe HTML, with related objects shown as they were at a moment.

Built on ``diffs.field_changes`` (secret fields masked, foreign keys to models the user may not
view shown as a bare id). A foreign key whose target was loaded by ``as_of`` shows that target's
label as it was, marked "as of then", or "now" for an untracked model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from pghistory_admin.diffs import field_changes
from pghistory_admin.fk_labels import MayView
from pghistory_core.event_kinds import object_event_models
from pghistory_core.models import Events

__all__ = ["FieldValue", "as_of_values", "event_data", "jsonable"]

_STATES = {
    "as_of": "",
    "current": "now",
    "not_created": "not created yet then",
    "deleted": "deleted then",
    "not_recorded": "no record then",
    "missing": "gone",
}


@dataclass(frozen=True)
class FieldValue:
    """One field of an object: its label, its value as safe HTML, and its kind."""

    name: str
    label: str
    value: str
    kind: str


def jsonable(value: Any) -> Any:
    """A Python value in the form events store it (what ``diffs`` renders)."""
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def event_data(instances: list[models.Model], using: str | None = None) -> list[dict[str, Any]]:
    """The ``pgh_data`` values behind as-of instances (one query for all of them).

    Values read through the aggregate stream are spelled as ``snapshots.current_data`` spells the
    current row, so the two compare field by field.
    """
    ids = {pgh_id for i in instances for pgh_id in i.pgh_as_of.sources.values()}  # type: ignore[attr-defined]
    rows: dict[int, dict[str, Any]] = {}
    if ids:
        event_models = {m for i in instances for m in object_event_models(type(i))}
        queryset = (
            Events.objects.using(using).by_attname().across(*event_models).filter(pgh_id__in=ids)
        )
        rows = {r["pgh_id"]: r["pgh_data"] or {} for r in queryset.values("pgh_id", "pgh_data")}
    return [
        {
            attname: rows.get(pgh_id, {}).get(attname)
            for attname, pgh_id in instance.pgh_as_of.sources.items()  # type: ignore[attr-defined]
        }
        for instance in instances
    ]


def as_of_values(
    instance: models.Model,
    data: dict[str, Any],
    *,
    may_view: MayView,
    using: str | None = None,
    exclude: tuple[str, ...] = (),
) -> list[FieldValue]:
    """The fields of an as-of instance, related objects as they were (or now, marked)."""
    model = type(instance)
    shown = {k: v for k, v in data.items() if k not in exclude}
    changes = field_changes(model, None, shown, initial=True, using=using, may_view=may_view)
    related = instance.pgh_as_of.related  # type: ignore[attr-defined]
    values = []
    for change in changes:
        html = change.new
        entry = related.get(change.name)
        if change.kind == "fk" and entry is not None:
            html = _related_html(entry)
        values.append(FieldValue(change.name, change.label, html, change.kind))
    return values


def _related_html(entry: Any) -> SafeString:
    note = _STATES.get(entry.state, entry.state)
    if entry.obj is None:
        return format_html(
            '<span class="pgh-fk pgh-deleted">#{} ({})</span>', entry.pk, _(note) if note else ""
        )
    if not note:
        return format_html(
            '<span class="pgh-fk pgh-as-of-related">{} (#{})</span>', str(entry.obj), entry.pk
        )
    return format_html(
        '<span class="pgh-fk">{} (#{}) <em class="pgh-now" title="{}">{}</em></span>',
        str(entry.obj),
        entry.pk,
        _("This model is not tracked: the related object is shown as it is now."),
        _(note),
    )
