"""Readable field-level diffs of events: which fields an event changed, from what to what.

``field_changes`` turns an event's ``pgh_diff`` (or, for a first event, its ``pgh_data``) into
``FieldChange``s: each field with its label, its kind, and its old and new value as safe HTML
(``value_html``), foreign keys named by their targets (``fk_labels``) and secret fields masked
(``conf.is_secret_field``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.safestring import SafeString
from django.utils.text import capfirst

from pghistory_admin import conf
from pghistory_admin.fk_labels import (
    FkLabels,
    MayView,
    complete_fk_labels,
    fields_by_attname,
    is_fk,
    may_label,
)
from pghistory_admin.markup import DateTimeFormat, esc
from pghistory_admin.value_html import render_one, render_pair

__all__ = ["FieldChange", "field_changes"]

#: Text longer than this (or spanning lines) is diffed word by word.
LONG_TEXT = 80


@dataclass(frozen=True)
class FieldChange:
    """One field of one event: its old and new value as safe HTML."""

    name: str
    label: str
    old: str
    new: str
    kind: str
    changed: bool

    def row_html(self) -> SafeString:
        """The change as a row of ``diff.html``'s table (one per field: built here, not in the
        template, as a timeline page shows hundreds)."""
        wrap = ' style="white-space: pre-wrap"' if self.kind == "longtext" else ""
        old = f'<td class="pgh-old"{wrap}>{esc(self.old)}</td>' if self.changed else ""
        return SafeString(
            f'<tr class="pgh-diff-row pgh-kind-{esc(self.kind)}" data-field="{esc(self.name)}">'
            f'<th scope="row">{esc(self.label)}</th>{old}'
            f'<td class="pgh-new"{wrap}>{esc(self.new)}</td></tr>'
        )


def field_changes(
    tracked_model: type[models.Model],
    diff: dict[str, Any] | None,
    data: dict[str, Any],
    *,
    initial: bool = False,
    using: str | None = None,
    fk_labels: FkLabels | None = None,
    may_view: MayView = None,
    dates: DateTimeFormat | None = None,
) -> list[FieldChange]:
    """The changed fields of an event (or, with ``initial``, every field's first value).

    ``fk_labels`` comes from ``prefetch_fk_labels`` over the rows of a page; ids it lacks are
    fetched here, one query per target model. A foreign key to a model ``may_view`` refuses shows
    its raw id alone: neither the target's ``str()`` nor whether it still exists. ``dates``, the
    page's ``markup.DateTimeFormat``, formats datetimes (one made per call without it).
    """
    if initial:
        pairs = {key: (None, value) for key, value in data.items()}
    elif diff:
        pairs = {key: (pair[0], pair[1]) for key, pair in diff.items()}
    else:
        return []
    labels = complete_fk_labels(
        tracked_model, None if initial else diff, data, fk_labels or {}, using, may_view
    )
    fields = fields_by_attname(tracked_model)
    dates = dates or DateTimeFormat()
    return [
        _change(tracked_model, key, fields.get(key), old, new, initial, labels, may_view, dates)
        for key, (old, new) in _ordered(pairs, fields)
    ]


def _ordered(
    pairs: dict[str, tuple[Any, Any]], fields: dict[str, models.Field[Any, Any]]
) -> list[tuple[str, tuple[Any, Any]]]:
    """Model field order first, then keys of fields the model no longer has."""
    known = [(key, pairs[key]) for key in fields if key in pairs]
    return known + sorted((key, pair) for key, pair in pairs.items() if key not in fields)


def _change(
    tracked_model: type[models.Model],
    key: str,
    field: models.Field[Any, Any] | None,
    old: Any,
    new: Any,
    initial: bool,
    labels: FkLabels,
    may_view: MayView = None,
    dates: DateTimeFormat | None = None,
) -> FieldChange:
    kind = _kind(tracked_model, key, field, old, new, may_view)
    if initial:
        old_html, new_html = SafeString(""), render_one(kind, field, new, labels, dates)
    else:
        old_html, new_html = render_pair(kind, field, old, new, labels, dates)
    return FieldChange(
        name=field.name if field is not None else key,
        label=_label(key, field),
        old=old_html,
        new=new_html,
        kind=kind,
        changed=not initial,
    )


def _label(key: str, field: models.Field[Any, Any] | None) -> str:
    if field is None:
        return capfirst(key.replace("_", " "))
    return capfirst(str(field.verbose_name))


def _kind(
    tracked_model: type[models.Model],
    key: str,
    field: models.Field[Any, Any] | None,
    old: Any,
    new: Any,
    may_view: MayView = None,
) -> str:
    if conf.is_secret_field(tracked_model, key, field):
        return "secret"
    if field is None:
        return "value"
    if is_fk(field):
        return "fk" if may_label(field, may_view) else "fkid"
    if field.flatchoices:
        return "choice"
    if isinstance(field, models.BooleanField):
        return "bool"
    if isinstance(field, models.DateField | models.TimeField):
        return "datetime"
    if isinstance(field, models.JSONField):
        return "json"
    if isinstance(old, str) or isinstance(new, str):
        return "longtext" if _is_long(old) or _is_long(new) else "text"
    return "value"


def _is_long(value: Any) -> bool:
    return isinstance(value, str) and (len(value) > LONG_TEXT or "\n" in value)
