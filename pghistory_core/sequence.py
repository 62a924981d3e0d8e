"""The sequence every event table draws ``pgh_id`` from, kept past the ids already stored.

Event tables that were filled before they used the sequence (django-pghistory 3.x gave each
table its own counter, and a restored dump brings its rows but not our sequence) hold ids the
sequence would hand out again. ``advance()`` moves it past the largest ``pgh_id`` of every event
table, before ``migrate`` points a table's default at the sequence and whenever asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.backends.utils import CursorWrapper

from pghistory_core.constants import EVENT_ID_SEQUENCE
from pghistory_core.meta import pk
from pghistory_core.registry import event_models
from pghistory_core.sql_builders import quote

__all__ = ["SequenceState", "advance", "largest_event_id", "state"]


@dataclass(frozen=True)
class SequenceState:
    """Where the shared sequence stands against the ids stored in the event tables."""

    next_value: int
    largest_event_id: int | None
    largest_in: str | None

    @property
    def behind(self) -> bool:
        """True when the sequence would hand out an id some event already has."""
        return self.largest_event_id is not None and self.largest_event_id >= self.next_value


def largest_event_id(cursor: CursorWrapper) -> tuple[int | None, str | None]:
    """The largest ``pgh_id`` stored in any existing event table, and that table's name."""
    largest: tuple[int | None, str | None] = (None, None)
    seen: set[str] = set()
    for model in event_models():
        table = model._meta.db_table
        if table in seen:
            continue
        seen.add(table)
        column = pk(model).column or "pgh_id"
        # Before migrate, a table may be missing or not have this column yet.
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(%s) "
            "AND attname = %s AND NOT attisdropped)",
            [quote(table), column],
        )
        if not cursor.fetchone()[0]:
            continue
        cursor.execute(f"SELECT max({quote(column)}) FROM {quote(table)}")
        value = cursor.fetchone()[0]
        if value is not None and (largest[0] is None or value > largest[0]):
            largest = (int(value), table)
    return largest


def state(cursor: CursorWrapper) -> SequenceState:
    """The sequence's next value and the largest stored event id (the sequence must exist)."""
    cursor.execute(f"SELECT last_value, is_called FROM {EVENT_ID_SEQUENCE}")
    last_value, is_called = cursor.fetchone()
    largest, table = largest_event_id(cursor)
    return SequenceState(
        next_value=int(last_value) + (1 if is_called else 0),
        largest_event_id=largest,
        largest_in=table,
    )


def advance(cursor: CursorWrapper) -> SequenceState:
    """Move the sequence past every stored ``pgh_id``; returns the state found before.

    ``setval`` is not transactional: call it last in a transaction that may still fail.
    """
    before = state(cursor)
    if before.behind:
        cursor.execute("SELECT setval(%s, %s, true)", [EVENT_ID_SEQUENCE, before.largest_event_id])
    return before
