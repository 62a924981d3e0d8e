"""Blame and as-of over the read benchmarks' history (pghistory-admin only; no peer has them).

The generated items have 25 events each, so a "hot" item with ``HOT_EVENTS`` events is added
(written straight into the event table, one field changing at a time, the row as of its last
event): ``blame`` of it is the issue's target (≤ 20 ms at 10,000 events), ``as_of`` of a typical
item at the middle of the year the other (≤ 20 ms at 1,000,000 events). Times are client-side
(the whole API call: every statement, transfer, instances).
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bench import database, seed
from bench.timing import Samples, timed

if TYPE_CHECKING:
    from bench.reads import Setup

OURS = "pghistory-admin"
HOT_EVENTS = 10_000
#: Above every generated item id.
HOT_ID = 10_000_000
TARGET_MS = 20.0


def add_hot_item(start: datetime, end: datetime, generated: int) -> int:
    """An item with ``HOT_EVENTS`` events spread from ``start`` to ``end``; returns its id.

    Its events draw the newest ids, so each takes the context of the generated events of its
    moment (``generated`` of them over the same span, ``seed``'s buckets of ten, 70% with a
    context): without one, the newest 10,000 item events would hold no user's, and every user
    filter would walk past them first, which no live history looks like.
    """
    from pghistory_core.meta import column

    item = seed.tracked_model(OURS, "Item")
    events = seed.event_model(OURS, "Item")
    step = (end - start) / HOT_EVENTS
    # Every tenth event renames it, every third reprices it; the status is set once.
    values = {
        "id": "%(id)s",
        "name": "'Hot item rev ' || (g / 10)",
        "price": "mod(g / 3, 1000) / 10.0 + 1",
        "status": "'active'",
        "updated_at": "%(start)s::timestamptz + g * %(step)s::interval",
        "notes": "''",
    }
    columns = [column(events, name) for name in values]
    database.execute(
        f"INSERT INTO {database.table(events)} (pgh_created_at, pgh_label, pgh_obj_id, "
        f"pgh_context_id, {', '.join(database.qn(c) for c in columns)}) "
        "SELECT %(start)s::timestamptz + g * %(step)s::interval, "
        "CASE WHEN g = 0 THEN 'insert' ELSE 'update' END, %(id)s, "
        f"CASE WHEN mod(bucket, 10) < 7 THEN md5('bench-ctx-' || bucket)::uuid END, "
        f"{', '.join(values.values())} FROM (SELECT g, "
        f"(g::bigint * %(generated)s / %(hot)s) / {seed.EVENTS_PER_CONTEXT} AS bucket "
        "FROM generate_series(0, %(last)s) AS g) AS hot",
        {  # type: ignore[arg-type]
            "id": HOT_ID,
            "start": start,
            "step": step,
            "last": HOT_EVENTS - 1,
            "generated": generated,
            "hot": HOT_EVENTS,
        },
    )
    last = HOT_EVENTS - 1
    with database.triggers_disabled():  # the row as of its last event, with no event of its own
        item.objects.create(
            id=HOT_ID,
            name=f"Hot item rev {last // 10}",
            price=((last // 3) % 1000) / 10.0 + 1,
            status="active",
            notes="",
        )
    database.vacuum_analyze(events)
    return HOT_ID


def _workloads(setup: Setup, middle: datetime) -> dict[str, tuple[str, Any, float | None]]:
    import pghistory_core

    item = seed.tracked_model(OURS, "Item")
    return {
        "blame_hot": (
            f"`blame()` of an item with {HOT_EVENTS:,} events",
            lambda: pghistory_core.blame(item, setup.hot),
            TARGET_MS,
        ),
        "blame": (
            "`blame()` of a typical item (25 events)",
            lambda: pghistory_core.blame(item, setup.obj),
            TARGET_MS,
        ),
        "as_of": (
            "`as_of()` of a typical item, mid-history",
            lambda: pghistory_core.as_of(item, setup.obj, middle),
            TARGET_MS,
        ),
        "as_of_hot": (
            f"`as_of()` of the item with {HOT_EVENTS:,} events, mid-history",
            lambda: pghistory_core.as_of(item, setup.hot, middle),
            TARGET_MS,
        ),
    }


def measure(setup: Setup, repeat: int) -> dict[str, Any]:
    """Time each workload (a warm-up call first, then ``repeat`` calls)."""
    middle = (
        setup.since if isinstance(setup.since, datetime) else datetime.fromisoformat(setup.since)
    )
    middle += timedelta(hours=1)
    results: dict[str, Any] = {}
    for key, (title, run, target) in _workloads(setup, middle).items():
        run()
        samples = Samples()
        for _ in range(max(repeat, 5)):
            seconds, _result = timed(run)
            samples.seconds.append(seconds)
        results[key] = {"title": title, "target_ms": target, **samples.as_dict()}
        print(f"  moments {key:<10} {samples.median * 1000:8.2f} ms", file=sys.stderr)
    return results
