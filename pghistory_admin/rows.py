"""A page of aggregate events made ready to display: users, objects and diffs fetched in bulk.

Whatever the page shows costs a fixed number of queries: one for the users, one per tracked
model for the objects' labels, one per foreign key target for the diffs' labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from pghistory_admin.diffs import FieldChange, field_changes
from pghistory_admin.fk_labels import prefetch_fk_labels
from pghistory_admin.keys import previous_data, renamed_from, renamed_to
from pghistory_admin.labels import last_labels
from pghistory_admin.links import AdminLinks
from pghistory_admin.markup import DateTimeFormat
from pghistory_admin.snapshots import diff_data
from pghistory_admin.wording import action_label, session_label, session_note, source_of
from pghistory_core.models import BaseEvents

__all__ = ["EventRow", "RowBuilder"]


@dataclass(eq=False)
class EventRow:
    """One event as the pages show it (hashed by identity)."""

    event: BaseEvents
    tracked_model: type[models.Model] | None
    action: str
    source: str
    user: Any = None
    user_label: str = ""
    user_url: str | None = None
    #: For a write made outside Django: what its database session says (the user's title).
    user_note: str = ""
    object_label: str = ""
    object_url: str | None = None
    object_exists: bool | None = None
    model_label: str = ""
    context_url: str | None = None
    diff_url: str | None = None
    changed_fields: list[str] = field(default_factory=list)
    changes: list[FieldChange] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The object's primary key before this event changed it (and its timeline there).
    renamed_from: str | None = None
    renamed_from_url: str | None = None
    #: The key the (gone) object was changed to later (and its timeline there).
    renamed_to: str | None = None
    renamed_to_url: str | None = None

    @property
    def pgh_id(self) -> int:
        return self.event.pgh_id

    @property
    def initial(self) -> bool:
        """The object's first event: it shows initial values rather than a diff."""
        return self.event.pgh_diff is None

    @property
    def unchanged(self) -> bool:
        """An event that changed no tracked field (a deletion, a snapshot): shows its values."""
        return self.event.pgh_diff == {}

    @property
    def shows_values(self) -> bool:
        """Whether the event is shown as its values rather than as a diff."""
        return self.initial or self.unchanged

    @property
    def values_note(self) -> str:
        """What an event shown as its values says it shows ("Initial values", …); else ""."""
        if self.initial:
            if self.renamed_from:
                return _("Renamed from #%(old)s") % {"old": self.renamed_from}
            return _("Initial values")
        if self.unchanged:
            if self.event.pgh_label == "delete":
                return _("Values when deleted")
            return _("Values (no field changed)")
        return ""


def _tracked_model(event: BaseEvents) -> type[models.Model] | None:
    try:
        return apps.get_model(event.pgh_obj_model)
    except (LookupError, ValueError):
        return None


def _to_pk(model: type[models.Model], value: Any) -> Any:
    pk = model._meta.pk
    try:
        return pk.to_python(value)
    except ValidationError:
        return None


class RowBuilder:
    """Turns events into ``EventRow``s for one request on one admin site."""

    def __init__(self, links: AdminLinks, *, using: str | None = None) -> None:
        self.links = links
        self.using = using
        # What every row of a model shares, looked up once per page.
        self._models: dict[str, tuple[type[models.Model] | None, str]] = {}
        self._labels: dict[type[models.Model], dict[str, str]] = {}
        self._actions: dict[str, str] = {}

    def build(
        self, events: Sequence[BaseEvents], *, objects: bool = True, diffs: bool = False
    ) -> list[EventRow]:
        """Rows for ``events``: ``objects`` fetches object labels, ``diffs`` renders the diffs."""
        rows = [self._row(event) for event in events]
        self.link_key_changes(rows)
        self.add_users(rows)
        if objects:
            self._add_objects(rows)
        if diffs:
            self.add_diffs(rows)
        return rows

    def _model(self, event: BaseEvents) -> tuple[type[models.Model] | None, str]:
        """The tracked model of ``event`` and its display name."""
        if event.pgh_obj_model not in self._models:
            tracked = _tracked_model(event)
            label = str(capfirst(tracked._meta.verbose_name)) if tracked else event.pgh_obj_model
            self._models[event.pgh_obj_model] = (tracked, label)
        return self._models[event.pgh_obj_model]

    def _action(self, label: str) -> str:
        """``action_label(label)``, translated once per page."""
        if label not in self._actions:
            self._actions[label] = action_label(label)
        return self._actions[label]

    def _field_labels(self, model: type[models.Model]) -> dict[str, str]:
        """``{attname: verbose name}`` of the concrete fields of ``model``."""
        if model not in self._labels:
            self._labels[model] = {
                f.attname: str(capfirst(f.verbose_name)) for f in model._meta.concrete_fields
            }
        return self._labels[model]

    def _row(self, event: BaseEvents) -> EventRow:
        tracked, model_label = self._model(event)
        row = EventRow(
            event=event,
            tracked_model=tracked,
            action=self._action(event.pgh_label),
            source=source_of(event.pgh_context_metadata),
            model_label=model_label,
        )
        if event.pgh_context_id:
            row.context_url = self.links.audit_log(context_id=event.pgh_context_id)
        row.diff_url = self.links.audit_log("diff", event.pgh_id)
        self._set_changed_fields(row)
        return row

    def _set_changed_fields(self, row: EventRow) -> None:
        tracked, diff = row.tracked_model, row.event.pgh_diff
        if tracked is not None and diff:
            labels = self._field_labels(tracked)
            row.changed_fields = [labels.get(key, key) for key in diff]

    def link_key_changes(self, rows: Sequence[EventRow]) -> None:
        """Events that changed their object's primary key: diffed against the old key's last.

        Only the first event under a key that an UPDATE recorded can be one (one query when a
        page has such events, plus one per event found).
        """
        candidates = {
            row.pgh_id: row
            for row in rows
            if row.initial and row.tracked_model is not None and row.event.pgh_label != "insert"
        }
        changes = renamed_from(
            ((row.event.pgh_model, pgh_id) for pgh_id, row in candidates.items()), self.using
        )
        for pgh_id, change in changes.items():
            row = candidates[pgh_id]
            model = row.tracked_model
            if model is None:
                continue
            row.renamed_from = change.old_obj_id
            old_pk = _to_pk(model, change.old_obj_id)
            row.renamed_from_url = self.links.history(model, old_pk) if old_pk is not None else None
            previous = previous_data(row.event.pgh_model, change, self.using)
            if previous is not None:
                # The diff against the old key's last values: what the update changed, the key too.
                row.event.pgh_diff = diff_data(previous, row.event.pgh_data or {})
                self._set_changed_fields(row)

    def add_users(self, rows: Iterable[EventRow]) -> None:
        """Name each row's user (username, or "deleted user #id"), one query for all."""
        user_model = get_user_model()
        ids: dict[EventRow, Any] = {}
        for row in rows:
            metadata = row.event.pgh_context_metadata or {}
            raw = metadata.get("user")
            if raw is None and (label := session_label(metadata)):
                row.user_label, row.user_note = label, session_note(metadata)
                continue
            if raw is not None and not isinstance(raw, dict | list | bool):
                pk = _to_pk(user_model, raw)
                if pk is not None:
                    ids[row] = pk
                else:
                    row.user_label = str(raw)
        if not ids:
            return
        users = user_model._default_manager.db_manager(self.using).in_bulk(set(ids.values()))
        for row, pk in ids.items():
            user = users.get(pk)
            row.user = user
            if user is None:
                row.user_label = _("deleted user #%(id)s") % {"id": pk}
                continue
            row.user_label = user.get_username()
            row.user_url = self.links.change(user_model, pk)

    def _add_objects(self, rows: Iterable[EventRow]) -> None:
        wanted: dict[type[models.Model], dict[EventRow, Any]] = {}
        for row in rows:
            if row.tracked_model is None or row.event.pgh_obj_id is None:
                continue
            pk = _to_pk(row.tracked_model, row.event.pgh_obj_id)
            if pk is not None:
                wanted.setdefault(row.tracked_model, {})[row] = pk
        for model, pks in wanted.items():
            manager = model._base_manager.db_manager(self.using)
            found = manager.in_bulk(set(pks.values()))
            gone = {pk for pk in pks.values() if pk not in found}
            # A deleted object is named after its last recorded values (one query per model),
            # and an object whose key changed links to its history under the new key.
            last = last_labels(model, gone, using=self.using) if gone else {}
            moved = renamed_to(model, gone, using=self.using) if gone else {}
            for row, pk in pks.items():
                obj = found.get(pk)
                row.object_exists = obj is not None
                row.object_label = str(obj) if obj is not None else last.get(pk, f"#{pk}")
                if pk in moved:
                    row.renamed_to = moved[pk]
                    new_pk = _to_pk(model, moved[pk])
                    row.renamed_to_url = (
                        self.links.history(model, new_pk) if new_pk is not None else None
                    )
                row.object_url = self.links.history(model, pk) or self.links.audit_log(
                    model=model._meta.label_lower, object=row.event.pgh_obj_id
                )

    def add_diffs(self, rows: Sequence[EventRow]) -> None:
        """Render each row's field changes, with foreign key labels fetched per target model."""
        by_model: dict[type[models.Model], list[EventRow]] = {}
        for row in rows:
            if row.tracked_model is not None:
                by_model.setdefault(row.tracked_model, []).append(row)
        dates = DateTimeFormat()
        for model, model_rows in by_model.items():
            pairs = [
                (None if row.shows_values else row.event.pgh_diff, row.event.pgh_data or {})
                for row in model_rows
            ]
            labels = prefetch_fk_labels(
                model, pairs, using=self.using, may_view=self.links.may_view
            )
            for row, (diff, data) in zip(model_rows, pairs, strict=True):
                row.changes = field_changes(
                    model,
                    diff,
                    data,
                    initial=row.shows_values,
                    using=self.using,
                    fk_labels=labels,
                    may_view=self.links.may_view,
                    dates=dates,
                )
