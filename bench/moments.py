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
HOT_EVENTS = seed.HOT_EVENTS
#: Above every generated item id.
HOT_ID = 10_000_000
TARGET_MS = 20.0


def add_hot_item(plan: seed.Plan) -> int:
    """An item with ``HOT_EVENTS`` events spread over the generated year; returns its id.

    Each event takes the id ``seed`` left free at its moment and the context of the generated
    events around it (``seed``'s buckets of ten, 70% with a context), as if written then, so id
    order stays time order. (With the newest ids but old contexts and times, they were the first
    10,000 item events every newest-first read walked past, each in a context of its own: no
    live history looks like that.) The rows themselves are appended to the table's heap, next to
    each other, where a live item's events would lie scattered among everything written between
    them: ``blame`` and ``as_of`` read fewer pages here than they would there.
    """
    from pghistory_core.meta import column

    item = seed.tracked_model(OURS, "Item")
    events = seed.event_model(OURS, "Item")
    hot = plan.hot_events
    start, step = plan.start, (plan.at(plan.events) - plan.start) / hot
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
        f"INSERT INTO {database.table(events)} (pgh_id, pgh_created_at, pgh_label, pgh_obj_id, "
        f"pgh_context_id, {', '.join(database.qn(c) for c in columns)}) "
        f"SELECT {plan.hot_id_sql('g')}, "
        "%(start)s::timestamptz + g * %(step)s::interval, "
        "CASE WHEN g = 0 THEN 'insert' ELSE 'update' END, %(id)s, "
        f"CASE WHEN mod(bucket, 10) < 7 THEN md5('bench-ctx-' || bucket)::uuid END, "
        f"{', '.join(values.values())} FROM (SELECT g, "
        f"(g::bigint * %(generated)s / %(hot)s) / {seed.EVENTS_PER_CONTEXT} AS bucket "
        "FROM generate_series(0, %(last)s) AS g) AS hot",
        {  # type: ignore[arg-type]
            "id": HOT_ID,
            "start": start,
            "step": step,
            "last": hot - 1,
            "generated": plan.events,
            "hot": hot,
        },
    )
    last = hot - 1
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
