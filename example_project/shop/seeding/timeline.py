"""Spread the seeded history over past days, as if it had happened during opening hours.

Triggers stamp ``pgh_created_at`` with the transaction's ``NOW()``, so a seed run would put
every event within a few seconds. Each simulated request runs in its own transaction and is
given a time on a past working day; afterwards the events it wrote (a range of ``pgh_id``, which
one sequence hands out to every event table) and its context get that time.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pgtrigger
from django.db import connection
from django.utils import timezone

from pghistory_core import guards
from pghistory_core.config import EVENT_ID_SEQUENCE
from pghistory_core.registry import event_models

OPENING_HOUR = 8
OPEN_HOURS = 12


def last_event_id() -> int:
    """The last ``pgh_id`` handed out (0 before the first event)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(pg_sequence_last_value(%s::regclass), 0)", [EVENT_ID_SEQUENCE]
        )
        return int(cursor.fetchone()[0])


@dataclass
class Timeline:
    """Times of simulated requests, from the first to the last of ``days`` past days."""

    days: int
    target_events: int
    first_event_id: int
    rng: random.Random
    start: datetime = field(init=False)
    _last_ids: list[int] = field(default_factory=list)
    _times: list[datetime] = field(default_factory=list)
    _contexts: dict[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        today = timezone.now().replace(hour=OPENING_HOUR, minute=0, second=0, microsecond=0)
        # The last simulated day is yesterday: nothing lands in the future.
        self.start = today - timedelta(days=self.days)

    def next_time(self, events_done: int) -> datetime:
        """When the next request happens: time advances with the share of events written."""
        fraction = min(events_done / self.target_events, 1.0)
        day = min(int(fraction * self.days), self.days - 1)
        hours = (fraction * self.days - day) * OPEN_HOURS
        when = self.start + timedelta(days=day, hours=hours, seconds=self.rng.randint(0, 90))
        if self._times and when <= self._times[-1]:
            when = self._times[-1] + timedelta(seconds=self.rng.randint(5, 120))
        return when

    def record(self, last_id: int, when: datetime, context_id: uuid.UUID | None) -> None:
        """A request at ``when`` wrote the events up to ``last_id`` in context ``context_id``."""
        self._last_ids.append(last_id)
        self._times.append(when)
        if context_id is not None:
            self._contexts[str(context_id)] = when

    def apply(self) -> int:
        """Move the recorded events and contexts to their simulated times; returns the rows."""
        if not self._last_ids:
            return 0
        return backdate(self.first_event_id, self._last_ids, self._times, self._contexts)


def backdate(
    first_event_id: int,
    last_ids: list[int],
    times: list[datetime],
    contexts: dict[str, datetime],
) -> int:
    """Give the events after ``first_event_id`` up to ``last_ids[i]`` the time ``times[i]``, and
    each context of ``contexts`` its time; returns the events moved."""
    lows = [first_event_id, *last_ids[:-1]]
    last = last_ids[-1]
    moved = 0
    with connection.cursor() as cursor:
        for model in event_models():
            # Append-only event tables refuse UPDATE; they keep their real times.
            if getattr(model, "pgh_append_only", False):
                continue
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(
                f"UPDATE {table} AS e SET pgh_created_at = b.at "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[]) AS b(lo, hi, at) "
                "WHERE e.pgh_id > b.lo AND e.pgh_id <= b.hi AND e.pgh_id > %s AND e.pgh_id <= %s",
                [lows, last_ids, times, first_event_id, last],
            )
            moved += cursor.rowcount
    # A context's creation time is part of the record: only the table's owner, which the demo
    # runs as, may move it.
    with pgtrigger.ignore(guards.CONTEXT_GUARD), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pghistory_core_context AS c SET created_at = b.at, updated_at = b.at "
            "FROM unnest(%s::uuid[], %s::timestamptz[]) AS b(id, at) WHERE c.id = b.id",
            [list(contexts), list(contexts.values())],
        )
    return moved
