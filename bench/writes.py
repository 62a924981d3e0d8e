"""Write benchmarks: bulk_create, QuerySet.update(), single-row save() and delete() per library.

Every sample starts from empty tables (event and context tables too) and a checkpoint; the
variants are interleaved in each repetition (their order rotates), and the events each variant
recorded are counted after every sample.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import models, transaction
from django.db.models import F
from django.db.models.functions import Now
from simple_history.utils import bulk_create_with_history

from bench import database
from bench.timing import Samples, timed
from bench.variants import Variant, context_tables, item_variants

NOTES = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 4)[:200]
_NOTES_SQL = f"'{NOTES}'"


@dataclass(frozen=True)
class Operation:
    """A timed write; ``prepare`` runs before the clock starts."""

    key: str
    title: str
    prepare: Callable[[Variant, int, int], Any]
    run: Callable[[Variant, Any], None]
    #: How many events a library recording everything writes (rows, saves).
    expected: Callable[[int, int], int]
    #: Samples of each variant per repetition. The medians of five samples of ``save()``,
    #: ``update()`` and ``delete()`` moved by 0.3x between runs of the same code (a few slow
    #: samples decide them), so those are sampled three times per repetition.
    rounds: int = 1


def seed(model: type[models.Model], rows: int) -> None:
    """Insert ``rows`` items in one statement without firing any trigger."""
    with database.triggers_disabled():
        database.execute(
            f"INSERT INTO {database.table(model)} (name, price, status, updated_at, notes) "
            f"SELECT 'Item ' || g, (g % 1000) + 0.5, 'draft', now(), {_NOTES_SQL} "
            f"FROM generate_series(1, {int(rows)}) AS g"
        )


def _new_items(variant: Variant, rows: int, saves: int) -> list[models.Model]:
    return [
        variant.model(name=f"Item {i}", price=Decimal(i % 1000) + Decimal("0.50"), notes=NOTES)
        for i in range(rows)
    ]


def _bulk_create(variant: Variant, objs: list[models.Model]) -> None:
    if variant.key.endswith("(bulk_create_with_history)"):
        bulk_create_with_history(objs, variant.model)
    else:
        variant.model._default_manager.bulk_create(objs)


def _seeded(variant: Variant, rows: int, saves: int) -> None:
    seed(variant.model, rows)


def _update(variant: Variant, payload: None) -> None:
    variant.model._default_manager.update(price=F("price") + 1, updated_at=Now())


def _seeded_objects(variant: Variant, rows: int, saves: int) -> list[models.Model]:
    seed(variant.model, rows)
    return list(variant.model._default_manager.order_by("pk")[:saves])


def _save_each(variant: Variant, objs: list[Any]) -> None:
    for obj in objs:
        obj.price += 1
        obj.save()


def _delete(variant: Variant, payload: None) -> None:
    variant.model._default_manager.all().delete()


OPERATIONS = [
    Operation("bulk_create", "`bulk_create` (N rows)", _new_items, _bulk_create, lambda n, s: n),
    Operation("update", "`QuerySet.update()` (N rows)", _seeded, _update, lambda n, s: n, rounds=3),
    Operation(
        "save",
        "single-row `save()` x S in one transaction",
        _seeded_objects,
        _save_each,
        lambda n, s: s,
        rounds=3,
    ),
    Operation("delete", "`QuerySet.delete()` (N rows)", _seeded, _delete, lambda n, s: n, rounds=3),
]


def _tables(variant: Variant) -> list[Any]:
    tables: list[Any] = [variant.model, *context_tables()]
    if variant.events is not None:
        tables.append(variant.events)
    return tables


def sample(operation: Operation, variant: Variant, rows: int, saves: int) -> dict[str, Any]:
    """One measurement from empty tables: seconds, events recorded, events with a context."""
    database.truncate(*_tables(variant))
    database.settle_context()
    payload = operation.prepare(variant, rows, saves)
    database.checkpoint()

    def body() -> None:
        with variant.open_context(), transaction.atomic():
            operation.run(variant, payload)

    seconds, _ = timed(body)
    events = database.count(variant.events) if variant.events is not None else 0
    with_context = (
        database.count(variant.events, f"{variant.context_column} IS NOT NULL")
        if variant.events is not None and variant.context_column
        else None
    )
    return {"seconds": seconds, "events": events, "with_context": with_context}


def _variants_of(operation: Operation) -> list[Variant]:
    return [v for v in item_variants() if v.operations is None or operation.key in v.operations]


def run(rows: int, saves: int, repeat: int, plans_dir: Path) -> dict[str, Any]:
    """All write benchmarks; JSON-ready results."""
    # Warm-up: compile the trigger functions, fill the caches.
    for operation in OPERATIONS:
        for variant in _variants_of(operation):
            sample(operation, variant, 200, 20)

    results: dict[str, Any] = {}
    for operation in OPERATIONS:
        results[operation.key] = {
            "title": operation.title,
            "expected_events": operation.expected(rows, saves),
            "variants": {},
        }
    collected: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rep in range(repeat):
        for operation in OPERATIONS:
            variants = _variants_of(operation)
            for round_ in range(operation.rounds):
                shift = (rep * operation.rounds + round_) % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    measured = sample(operation, variant, rows, saves)
                    collected.setdefault((operation.key, variant.key), []).append(measured)
                    print(
                        f"  writes rep {rep + 1}/{repeat} {operation.key:<11} {variant.key:<48}"
                        f" {measured['seconds']:8.3f} s  events={measured['events']}",
                        file=sys.stderr,
                    )
    for operation in OPERATIONS:
        for variant in _variants_of(operation):
            measured_list = collected[(operation.key, variant.key)]
            samples = Samples([m["seconds"] for m in measured_list])
            results[operation.key]["variants"][variant.key] = {
                "library": variant.library,
                "context": variant.context,
                **samples.as_dict(),
                "events": [m["events"] for m in measured_list],
                "with_context": [m["with_context"] for m in measured_list],
            }
    results["_diagnostics"] = diagnose(rows, saves, plans_dir)
    return results


# Diagnostics: the same writes in plain SQL, with the trigger times Postgres reports.

_TRIGGER_LINE = re.compile(
    r"^\s*Trigger (?P<name>\S+):(?: on \S+:)? time=(?P<ms>[\d.]+) calls=(?P<calls>\d+)"
)


def _sql_statements(table: str, rows: int) -> dict[str, str]:
    return {
        "insert": (
            f"INSERT INTO {table} (name, price, status, updated_at, notes) "
            f"SELECT 'Item ' || g, (g % 1000) + 0.5, 'draft', now(), {_NOTES_SQL} "
            f"FROM generate_series(1, {rows}) AS g"
        ),
        "update": f"UPDATE {table} SET price = price + 1, updated_at = now()",
        "update_one_row": f"UPDATE {table} SET price = price + 1, updated_at = now() WHERE id = 1",
        "delete": f"DELETE FROM {table}",
    }


def _single_rows_sql(table: str, saves: int) -> dict[str, str]:
    """PL/pgSQL loops writing one row per statement, as ``psql`` or another service might."""
    statements = {
        "insert": (
            f"INSERT INTO {table} (name, price, status, updated_at, notes) "
            f"VALUES ('Item ' || i, (i % 1000) + 0.5, 'draft', now(), {_NOTES_SQL})"
        ),
        "update": f"UPDATE {table} SET price = price + 1, updated_at = now() WHERE id = i",
        "delete": f"DELETE FROM {table} WHERE id = i",
    }
    return {
        name: f"DO $$ BEGIN FOR i IN 1..{saves} LOOP {sql}; END LOOP; END $$"
        for name, sql in statements.items()
    }


def single_rows(variants: list[Variant], saves: int, repeat: int = 5) -> dict[str, Any]:
    """``saves`` single-row INSERTs, UPDATEs and DELETEs in one PL/pgSQL loop each, inside a
    context, committed; the variants interleaved (order rotating) in each repetition."""
    collected: dict[str, dict[str, list[float]]] = {}
    for rep in range(repeat):
        shift = rep % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            table = database.table(variant.model)
            for name, sql in _single_rows_sql(table, saves).items():
                database.truncate(*_tables(variant))
                if name != "insert":
                    seed(variant.model, saves)
                database.checkpoint()

                def loop(sql: str = sql) -> None:
                    with transaction.atomic():
                        database.set_context()
                        database.execute(sql)

                seconds = timed(loop)[0]
                collected.setdefault(name, {}).setdefault(variant.key, []).append(seconds)
    database.truncate(*{t for v in variants for t in _tables(v)})
    return {
        name: {key: Samples(samples).as_dict() for key, samples in per_variant.items()}
        for name, per_variant in collected.items()
    }


def trigger_times(plan: str) -> list[dict[str, Any]]:
    """``Trigger <name>: time=… calls=…`` lines of an ``EXPLAIN ANALYZE`` plan."""
    found = []
    for line in plan.splitlines():
        if match := _TRIGGER_LINE.match(line):
            found.append(
                {"trigger": match["name"], "ms": float(match["ms"]), "calls": int(match["calls"])}
            )
    return found


def diagnose(rows: int, saves: int, plans_dir: Path) -> dict[str, Any]:
    """EXPLAIN ANALYZE of each write in SQL (inside a context, rolled back), loops of single-row
    statements in PL/pgSQL (trigger cost without the ORM) and the floor of ``update()``."""
    variants = [
        v
        for v in item_variants()
        if v.key in ("untracked", "pghistory-admin+ctx", "django-pghistory+ctx")
    ]
    plans_dir.mkdir(parents=True, exist_ok=True)
    found: dict[str, Any] = {"plans": {}}
    for variant in variants:
        table = database.table(variant.model)
        slug = variant.key.replace("+ctx", "")
        for name, sql in _sql_statements(table, rows).items():
            database.truncate(*_tables(variant))
            with transaction.atomic():
                if name != "insert":
                    seed(variant.model, rows)
                database.set_context()
                plan = database.explain(sql)
                transaction.set_rollback(True)
            path = plans_dir / f"write_{name}_{slug}.txt"
            path.write_text(f"-- {variant.key}, {rows} rows, inside a context\n{sql};\n\n{plan}\n")
            found["plans"].setdefault(name, {})[variant.key] = {
                "execution_ms": database.execution_ms(plan),
                "triggers": trigger_times(plan),
                "file": str(path.name),
            }
    database.truncate(*{t for v in item_variants() for t in _tables(v)})
    found["sql_single_rows"] = single_rows(variants, saves)
    found["event_floor"] = event_floor(rows)
    return found


#: Indexes of pghistory-admin's event table, added one at a time by ``event_floor``.
_FLOOR_INDEXES = [
    ("heap only", None),
    ("+ primary key (pgh_id)", "ALTER TABLE {t} ADD PRIMARY KEY (pgh_id)"),
    ("+ btree (pgh_obj_id, pgh_id)", "CREATE INDEX ON {t} (pgh_obj_id, pgh_id)"),
    ("+ BRIN (pgh_created_at)", "CREATE INDEX ON {t} USING brin (pgh_created_at)"),
    ("+ btree (pgh_context_id): pghistory-admin's table", "CREATE INDEX ON {t} (pgh_context_id)"),
]


def event_floor(rows: int, repeat: int = 15) -> dict[str, Any]:
    """What writing ``rows`` events costs with each index of the event table, beside the untracked
    and the tracked ``update()`` and ``delete()`` of as many rows: a trigger cannot write its
    events for less.

    One ``INSERT … SELECT`` of the rows of an item table into copies of the event table (same
    columns, defaults and sequence) with more and more of its indexes, every row with the same
    context id (as in a statement inside a context), committed; the copies, the untracked
    ``update()``/``delete()`` and pghistory-admin's tracked ones (inside a context) interleaved in
    each repetition.
    """
    from bench import models as bench_models

    events = database.table(bench_models.CoreItemEvent)  # type: ignore[attr-defined]
    plain = bench_models.PlainItem
    source = database.table(plain)
    names = [f"bench_floor_{index}" for index in range(len(_FLOOR_INDEXES))]
    copies = [database.qn(name) for name in names]
    indexes: dict[str, list[float]] = {}
    writes: dict[str, list[float]] = {}
    variants = {v.key: v for v in item_variants()}
    measured = [
        ("untracked update()", variants["untracked"], _update),
        ("tracked update()", variants["pghistory-admin+ctx"], _update),
        ("untracked delete()", variants["untracked"], _delete),
        ("tracked delete()", variants["pghistory-admin+ctx"], _delete),
    ]
    try:
        for index in range(len(_FLOOR_INDEXES)):
            database.execute(f"CREATE TABLE {copies[index]} (LIKE {events} INCLUDING DEFAULTS)")
            for previous in _FLOOR_INDEXES[1 : index + 1]:
                database.execute(str(previous[1]).format(t=copies[index]))
        insert = (
            "INSERT INTO {t} (pgh_created_at, pgh_label, pgh_obj_id, pgh_context_id, id, name, "
            "price, status, updated_at, notes) SELECT now(), 'update', id, "
            f"'{database.CONTEXT_ID}'::uuid, id, name, price, status, updated_at, notes FROM {source}"
        )
        for _ in range(repeat):
            database.truncate(plain)
            seed(plain, rows)
            for (label, _), name, copy in zip(_FLOOR_INDEXES, names, copies, strict=True):
                database.truncate(name)
                database.checkpoint()
                indexes.setdefault(label, []).append(
                    timed(lambda copy=copy: database.execute(insert.format(t=copy)))[0]
                )
            for label, variant, write in measured:
                database.truncate(*_tables(variant))
                database.settle_context()
                seed(variant.model, rows)
                database.checkpoint()

                def body(variant: Variant = variant, write: Any = write) -> None:
                    with variant.open_context(), transaction.atomic():
                        write(variant, None)

                writes.setdefault(label, []).append(timed(body)[0])
    finally:
        for copy in copies:
            database.execute(f"DROP TABLE IF EXISTS {copy}")
        database.truncate(*{t for _, v, _ in measured for t in _tables(v)})
    return {
        "rows": rows,
        "indexes": {label: Samples(s).as_dict() for label, s in indexes.items()},
        **{label: Samples(s).as_dict() for label, s in writes.items()},
    }
