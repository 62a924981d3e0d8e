"""What an event's row stands for, told by its label: the row after a change or before it.

Insert, ``row=New`` update and manual events copy the row as it was *after* the event; delete
events and ``row=Old`` updates copy it as it was *before*. ``blame`` and ``as_of`` read the
object's state from both kinds, so they classify each event model's labels here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

from pghistory_core.meta import concrete
from pghistory_core.registry import event_models
from pghistory_core.trackers import Old, RowEvent

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = ["before_labels", "delete_labels", "insert_labels", "object_event_models"]


def object_event_models(model: type[models.Model]) -> list[type[Event]]:
    """The event models recording rows of ``model`` that know their row (``pgh_obj``)."""
    target = concrete(model)
    return [
        event_model
        for event_model in event_models()
        if event_model.pgh_has_obj and concrete(event_model.pgh_tracked_model) is target
    ]


def _operations(event_model: type[Event], label: str) -> list[str] | None:
    for tracker in event_model.pgh_trackers:
        if tracker.label == label and isinstance(tracker, RowEvent):
            return tracker.operations()
    return None


def before_labels(event_model: type[Event]) -> list[str]:
    """Labels whose events copy the row as it was before them (deletes, ``row=Old`` updates)."""
    labels = []
    for tracker in event_model.pgh_trackers:
        if not isinstance(tracker, RowEvent) or tracker.label is None:
            continue
        operations = tracker.operations()
        if "INSERT" in operations:
            continue  # one label for inserts and other operations: read as "after"
        if operations == ["DELETE"] or tracker.row == Old:
            labels.append(tracker.label)
    return labels


def delete_labels(event_model: type[Event]) -> list[str]:
    """Labels of events that record a deletion."""
    return [
        tracker.label
        for tracker in event_model.pgh_trackers
        if tracker.label and _operations(event_model, tracker.label) == ["DELETE"]
    ]


def insert_labels(event_model: type[Event]) -> list[str]:
    """Labels of events that record a creation."""
    return [
        tracker.label
        for tracker in event_model.pgh_trackers
        if tracker.label and _operations(event_model, tracker.label) == ["INSERT"]
    ]
