"""Trackers: what produces events for a tracked model."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pgtrigger

from pghistory_core.conditions import AnyChange
from pghistory_core.fields import UNSET
from pghistory_core.through import trigger_model
from pghistory_core.triggers import triggers_for

if TYPE_CHECKING:
    from pghistory_core.models import Event

#: Which row of an update an event copies.
Old = "OLD"
New = "NEW"

_OPERATION_NAMES = {"INSERT": "insert", "UPDATE": "update", "DELETE": "delete"}


class Tracker:
    """Base class of trackers. ``setup`` is called once the event model exists."""

    label: str | None = None

    def __init__(self, label: str | None = None) -> None:
        self.label = label or self.label
        if not self.label:
            raise ValueError(f"{type(self).__name__} needs a label.")

    def setup(self, event_model: type[Event]) -> None:
        """Install whatever the tracker needs for ``event_model`` (nothing by default)."""


class ManualEvent(Tracker):
    """Events created only by ``create_event(obj, label=...)``."""


class RowEvent(Tracker):
    """Events written by a database trigger on the tracked table.

    Arguments:
        label: the ``pgh_label`` of the events.
        operation: ``pgtrigger.Insert``, ``Update``, ``Delete`` or a combination.
        condition: a condition over ``OLD``/``NEW`` rows (``AnyChange()`` and friends).
        row: ``Old`` or ``New``: which version of the row an update copies.
        trigger_name: base name of the trigger(s); defaults to the label.
        level: ``pgtrigger.Statement`` (set-based, the default) or ``pgtrigger.Row``.
    """

    operation: pgtrigger.Operation | None = None
    #: A pghistory_core condition, or one of django-pgtrigger's (as 3.x code passes them).
    #: Left unset, an update tracker fires on changes of the tracked fields (``AnyChange()``).
    condition: Any = UNSET
    row: str | None = None
    trigger_name: str | None = None
    level: Any = None

    def __init__(
        self,
        label: str | None = None,
        *,
        operation: pgtrigger.Operation | None = None,
        condition: Any = UNSET,
        row: str | None = None,
        trigger_name: str | None = None,
        level: pgtrigger.Level | None = None,
    ) -> None:
        super().__init__(label)
        self.operation = operation or self.operation
        if self.operation is None:
            raise ValueError(f"{type(self).__name__}({self.label!r}) needs an operation.")
        if condition is not UNSET:
            self.condition = condition
        if self.condition is UNSET:
            # As django-pghistory 3.x: an update tracker without a condition records changes.
            self.condition = AnyChange() if self.operation == pgtrigger.Update else None
        self.row = row or self.row
        if self.row not in (None, Old, New):
            raise ValueError(f"row must be pghistory_core.Old or pghistory_core.New, not {row!r}.")
        self.trigger_name = trigger_name or self.trigger_name
        self.level = level if level is not None else self.level

    def operations(self) -> list[str]:
        """The single operations (``INSERT``, ``UPDATE``, ``DELETE``) this tracker covers."""
        text = str(self.operation).upper()
        return [op for op in _OPERATION_NAMES if re.search(rf"\b{op}\b", text)]

    def row_for(self, operation: str) -> str:
        """Which row an event of ``operation`` copies."""
        if operation == "INSERT":
            return New
        if operation == "DELETE":
            return Old
        return self.row or New

    def setup(self, event_model: type[Event]) -> None:
        pgtrigger.register(*triggers_for(self, event_model))(trigger_model(event_model))

    def add_event_trigger(self, event_model: type[Event]) -> None:
        """Register this tracker's triggers (3.x's name, for custom trackers' ``setup``)."""
        RowEvent.setup(self, event_model)


class InsertEvent(RowEvent):
    """An event for every inserted row."""

    label = "insert"
    operation = pgtrigger.Insert


class UpdateEvent(RowEvent):
    """An event for every updated row whose tracked fields changed."""

    label = "update"
    operation = pgtrigger.Update
    row = New


class DeleteEvent(RowEvent):
    """An event for every deleted row, holding its last values."""

    label = "delete"
    operation = pgtrigger.Delete
