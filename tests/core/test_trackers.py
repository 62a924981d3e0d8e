"""``pghistory_core.trackers``: labels, operations, rows and conditions of trackers."""

import pgtrigger
import pytest

import pghistory_core
from pghistory_core.trackers import New, Old, RowEvent, Tracker


def test_labels_default_per_class_and_can_be_replaced():
    assert pghistory_core.InsertEvent().label == "insert"
    assert pghistory_core.UpdateEvent().label == "update"
    assert pghistory_core.DeleteEvent().label == "delete"
    assert pghistory_core.UpdateEvent("renamed").label == "renamed"
    assert pghistory_core.ManualEvent("audit").label == "audit"


def test_a_tracker_needs_a_label():
    with pytest.raises(ValueError, match="ManualEvent needs a label"):
        pghistory_core.ManualEvent()
    with pytest.raises(ValueError, match="Tracker needs a label"):
        Tracker()


def test_a_row_event_needs_an_operation():
    with pytest.raises(ValueError, match=r"RowEvent\('x'\) needs an operation"):
        RowEvent("x")


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (pgtrigger.Insert, ["INSERT"]),
        (pgtrigger.Update, ["UPDATE"]),
        (pgtrigger.Delete, ["DELETE"]),
        (pgtrigger.Insert | pgtrigger.Delete, ["INSERT", "DELETE"]),
        (pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete, ["INSERT", "UPDATE", "DELETE"]),
    ],
)
def test_operations(operation, expected):
    assert RowEvent("x", operation=operation).operations() == expected


def test_which_row_an_event_copies():
    both = RowEvent("x", operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete)
    assert both.row_for("INSERT") == New
    assert both.row_for("DELETE") == Old
    assert both.row_for("UPDATE") == New  # unless told otherwise
    old = pghistory_core.UpdateEvent("before", row=Old)
    assert old.row_for("UPDATE") == Old
    assert old.row_for("INSERT") == New  # an insert has no old row
    with pytest.raises(ValueError, match=r"row must be pghistory_core\.Old or pghistory_core\.New"):
        pghistory_core.UpdateEvent(row="MIDDLE")


def test_update_trackers_record_changes_unless_told_otherwise():
    assert isinstance(pghistory_core.UpdateEvent().condition, pghistory_core.AnyChange)
    assert pghistory_core.UpdateEvent(condition=None).condition is None
    assert pghistory_core.InsertEvent().condition is None
    mine = pghistory_core.AnyChange("price")
    assert pghistory_core.UpdateEvent(condition=mine).condition is mine


def test_class_attributes_are_defaults_a_subclass_can_set():
    class Archived(pghistory_core.UpdateEvent):
        label = "archived"
        condition = pghistory_core.Q(new__status="archived")
        trigger_name = "archive"
        level = pgtrigger.Row

    tracker = Archived()
    assert (tracker.label, tracker.trigger_name, tracker.level) == (
        "archived",
        "archive",
        pgtrigger.Row,
    )
    assert tracker.condition is Archived.condition
    assert Archived(level=pgtrigger.Statement).level is pgtrigger.Statement
    assert Archived(trigger_name="other").trigger_name == "other"
