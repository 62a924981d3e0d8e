"""Set-based generation of the read benchmarks' history, written straight into the event tables.

Events are numbered ``g = 0 … E-1`` in creation order (``pgh_id = g + 1``, timestamps spread
evenly over the past year, so id order is time order; pghistory-admin's ids leave a gap every
``E / HOT_EVENTS`` events for ``moments``' hot item, whose events take them at their moment).
``g % 10`` picks the tracked model: items get 50%, orders 30%, customers 20%, interleaved as in a live system. Within a model, event ``i``
belongs to object ``i % objects + 1`` (round ``i / objects``), so each object's events spread over
the whole year: round 0 is the insert, the last round of every 50th item a delete, the rest
updates that change at least one field (every ``REASSIGNED``-th order changes customer in each
update: 1.0% of all events, the changed-field filter's common case). Ten consecutive events share
a context (a request); 70% of them have one, most with a user (50 users evenly, plus user 51 on a
few contexts only).
Both libraries get identical histories; only the tables differ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models

from bench import database
from bench import models as bench_models

USERS = 50
RARE_USER = USERS + 1
EVENTS_PER_CONTEXT = 10
#: Events of ``moments``' hot item, spread over the year among pghistory-admin's generated ones.
HOT_EVENTS = 10_000
#: Every this many orders change customer in each of their updates (``customer_id``).
REASSIGNED = 24


@dataclass(frozen=True)
class Stream:
    """One tracked model's share of the history."""

    kind: str
    residues: range
    per_object: int
    #: Tracked field name -> SQL over ``obj``, ``rnd`` (the object's event number) and ``ts``.
    fields: dict[str, str]


def _notes(prefix: str, rnd: str) -> str:
    return f"left(repeat(md5('{prefix}' || obj || '-' || ({rnd})), 7), 200)"


STREAMS = [
    Stream(
        "Item",
        range(5),
        25,
        {
            "id": "obj",
            "name": "'Item ' || obj || ' rev ' || (rnd / 10)",
            "price": "((obj * 37 + rnd * 11) % 100000) / 100.0 + 1",
            "status": "(ARRAY['draft', 'active', 'archived'])[rnd % 3 + 1]",
            "updated_at": "ts",
            "notes": _notes("i", "rnd / 5"),
        },
    ),
    Stream(
        "Order",
        range(5, 8),
        5,
        {
            "id": "obj",
            # Every 24th order moves to another customer in each update: 1.0% of all events
            # change it (1.25% from the second fifth of the year on), the filter's common case.
            "customer_id": f"(obj + CASE WHEN obj % {REASSIGNED} = 0 THEN rnd ELSE 0 END) % 20000 + 1",
            "status": "(ARRAY['placed', 'paid', 'packed', 'shipped', 'delivered'])[least(rnd, 4) + 1]",
            "total": "((obj * 13) % 50000) / 100.0 + rnd",
            "placed_at": "{start} + (obj % 365) * interval '1 day'",
            "note": _notes("o", "rnd"),
        },
    ),
    Stream(
        "Customer",
        range(8, 10),
        10,
        {
            "id": "obj",
            "name": "'Customer ' || obj",
            "email": "'customer' || obj || '.' || (rnd / 4) || '@example.com'",
            "city": "(ARRAY['Berlin', 'Lisbon', 'Oslo', 'Rome', 'Vienna'])[(obj + rnd / 3) % 5 + 1]",
            "is_vip": "rnd % 4 = 3",
            "notes": _notes("c", "rnd / 2"),
        },
    ),
]

#: Library -> prefix of its tracked models in ``bench.models``.
LIBRARIES = {"pghistory-admin": "Core", "django-pghistory": "Pghistory"}


def tracked_model(library: str, kind: str) -> type[models.Model]:
    """The tracked model of one stream of one library (``CoreItem``, ``PghistoryOrder``...)."""
    return getattr(bench_models, f"{LIBRARIES[library]}{kind}")


def event_model(library: str, kind: str) -> type[models.Model]:
    """Its event model."""
    return getattr(bench_models, f"{LIBRARIES[library]}{kind}Event")


def context_model(library: str) -> type[models.Model]:
    """Where a library keeps its contexts."""
    if library == "pghistory-admin":
        from pghistory_core.models import Context

        return Context
    from pghistory.models import Context as PeerContext

    return PeerContext


@dataclass(frozen=True)
class Plan:
    """Where the history starts and how it is spread."""

    events: int
    start: datetime

    @property
    def step(self) -> timedelta:
        return timedelta(days=365) / self.events

    def at(self, g: int) -> datetime:
        """The creation time of event ``g``."""
        return self.start + g * self.step

    @property
    def hot_events(self) -> int:
        """Ids left free for the hot item: one before every ``events / HOT_EVENTS``-th event."""
        return min(HOT_EVENTS, self.events)

    def event_id_sql(self, library: str) -> str:
        """``pgh_id`` of generated event ``g``: ``g + 1``, after the hot item's free ids in
        pghistory-admin's history (``hot_id_sql``: one before each ``k * E / H``-th event)."""
        if library != "pghistory-admin":
            return "g + 1"
        return f"g + 2 + (g::bigint * {self.hot_events}) / {self.events}"

    def hot_id_sql(self, k: str) -> str:
        """``pgh_id`` of the hot item's event ``k`` (an SQL expression): the free id before
        generated event ``ceil(k * E / H)``, after as many generated and ``k`` hot events."""
        h, e = self.hot_events, self.events
        return f"({k}::bigint * {e} + {h - 1}) / {h} + {k} + 1"

    def size(self, stream: Stream) -> int:
        """Events of ``stream``."""
        return sum(len(range(r, self.events, 10)) for r in stream.residues)

    def objects(self, stream: Stream) -> int:
        return max(1, self.size(stream) // stream.per_object)

    def sql(self, text: str) -> str:
        start = f"'{self.start.isoformat()}'::timestamptz"
        step = f"interval '{self.step // timedelta(microseconds=1)} microseconds'"
        return text.replace("{start}", start).replace("{step}", step)


def _columns(model: type[models.Model], stream: Stream) -> tuple[list[str], list[str]]:
    names, expressions = [], []
    for name, expression in stream.fields.items():
        names.append(database.qn(model._meta.get_field(name).column))
        expressions.append(expression)
    return names, expressions


def _events_sql(plan: Plan, stream: Stream, events: type[models.Model], library: str) -> str:
    size, objects = plan.size(stream), plan.objects(stream)
    lo, width = stream.residues.start, len(stream.residues)
    names, expressions = _columns(events, stream)
    deleted = "obj % 50 = 0" if stream.kind == "Item" else "false"
    return plan.sql(
        f"INSERT INTO {database.table(events)} "
        f"(pgh_id, pgh_created_at, pgh_label, pgh_obj_id, pgh_context_id, {', '.join(names)}) "
        f"SELECT {plan.event_id_sql(library)}, ts, "
        f"CASE WHEN rnd = 0 THEN 'insert' WHEN {deleted} AND i >= {size - objects} THEN 'delete' "
        "ELSE 'update' END, obj, "
        f"CASE WHEN (g / {EVENTS_PER_CONTEXT}) % 10 < 7 "
        f"THEN md5('bench-ctx-' || (g / {EVENTS_PER_CONTEXT}))::uuid END, "
        f"{', '.join(expressions)} "
        f"FROM (SELECT g, i, i % {objects} + 1 AS obj, i / {objects} AS rnd, "
        "{start} + g * {step} AS ts "
        f"FROM (SELECT g, (g / 10) * {width} + (g % 10 - {lo}) AS i "
        f"FROM generate_series(0, {plan.events - 1}) AS g "
        f"WHERE g % 10 >= {lo} AND g % 10 < {stream.residues.stop}) AS s) AS t"
    )


def _tracked_sql(plan: Plan, stream: Stream, model: type[models.Model]) -> str:
    size, objects = plan.size(stream), plan.objects(stream)
    names, expressions = _columns(model, stream)
    deleted = "obj % 50 = 0" if stream.kind == "Item" else "false"
    return plan.sql(
        f"INSERT INTO {database.table(model)} ({', '.join(names)}) "
        f"SELECT {', '.join(expressions)} "
        f"FROM (SELECT obj, ({size} - obj) / {objects} AS rnd, now() AS ts "
        f"FROM generate_series(1, {objects}) AS obj) AS t WHERE NOT ({deleted})"
    )


def _contexts_sql(plan: Plan, context: type[models.Model]) -> str:
    buckets = (plan.events - 1) // EVENTS_PER_CONTEXT
    user = (
        f"CASE WHEN c % 5000 = 3 THEN {RARE_USER} "
        f"ELSE abs(hashtext('user-' || c)) % {USERS} + 1 END"
    )
    # One bucket in ten without a user: management commands, tasks.
    metadata = (
        "CASE WHEN c % 10 = 6 THEN jsonb_build_object('command', 'sync_prices') "
        f"ELSE jsonb_build_object('user', {user}, 'url', '/admin/bench/item/' || c || '/change/') END"
    )
    created = f"{{start}} + c * {EVENTS_PER_CONTEXT} * {{step}}"
    return plan.sql(
        f"INSERT INTO {database.table(context)} (id, created_at, updated_at, metadata) "
        f"SELECT md5('bench-ctx-' || c)::uuid, {created}, {created}, {metadata} "
        f"FROM generate_series(0, {buckets}) AS c WHERE c % 10 < 7"
    )


def _users() -> None:
    user_model = get_user_model()
    database.truncate(user_model)
    user_model.objects.bulk_create(
        [
            user_model(
                id=pk,
                username=f"user{pk}",
                is_staff=True,
                is_superuser=pk == 1,
                password="!",  # noqa: S106 - unusable; the client logs in with force_login
            )
            for pk in range(1, RARE_USER + 1)
        ]
    )
    database.execute(
        f"SELECT setval(pg_get_serial_sequence('{user_model._meta.db_table}', 'id'), {RARE_USER})"
    )


def all_tables() -> list[type[models.Model]]:
    """Every table the read history fills."""
    tables: list[type[models.Model]] = []
    for library in LIBRARIES:
        tables.append(context_model(library))
        for stream in STREAMS:
            tables += [tracked_model(library, stream.kind), event_model(library, stream.kind)]
    return tables


def generate(events: int) -> dict[str, Any]:
    """Replace the read tables' contents with ``events`` events per library; timings and shape."""
    plan = Plan(events, datetime.now(UTC).replace(microsecond=0) - timedelta(days=365))
    started = time.perf_counter()
    database.truncate(*all_tables())
    _users()
    seconds: dict[str, float] = {}
    for library in LIBRARIES:
        began = time.perf_counter()
        with database.triggers_disabled():
            database.execute(_contexts_sql(plan, context_model(library)))
            for stream in STREAMS:
                history = event_model(library, stream.kind)
                database.execute(_events_sql(plan, stream, history, library))
                model = tracked_model(library, stream.kind)
                database.execute(_tracked_sql(plan, stream, model))
                database.execute(
                    f"SELECT setval(pg_get_serial_sequence('{model._meta.db_table}', 'id'), "
                    f"{plan.objects(stream)})"
                )
                if library == "django-pghistory":
                    table = event_model(library, stream.kind)._meta.db_table
                    database.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'pgh_id'), {events})"
                    )
            if library == "pghistory-admin":
                from pghistory_core.config import EVENT_ID_SEQUENCE

                last = events + plan.hot_events  # moments.add_hot_item takes the free ids
                database.execute(f"SELECT setval('{EVENT_ID_SEQUENCE}', {last})")
        seconds[library] = time.perf_counter() - began
    began = time.perf_counter()
    database.vacuum_analyze(*all_tables(), get_user_model())
    vacuum = time.perf_counter() - began
    return {
        "events": events,
        "start": plan.start.isoformat(),
        "streams": {
            stream.kind: {"events": plan.size(stream), "objects": plan.objects(stream)}
            for stream in STREAMS
        },
        "contexts": database.count(context_model("pghistory-admin")),
        "insert_seconds": seconds,
        "vacuum_analyze_seconds": vacuum,
        "total_seconds": time.perf_counter() - started,
        "_plan": plan,
    }
