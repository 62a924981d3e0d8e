"""What recording the database session of writes made outside Django costs.

The same writes as ``psql`` would send them (SQL, no ``context()``), on pghistory-admin's item
table, with the context functions installed three ways: attribution off (events without a
context), on (role, application name, client address), on without the client address. The
variants are interleaved in each repetition; each one's functions are installed and warmed up
before its sample. Every sample starts from a freshly seeded table after a ``CHECKPOINT``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from bench import database
from bench import models as bench_models
from bench.timing import Samples, timed
from bench.variants import context_tables
from bench.writes import seed
from pghistory_core import config, runtime, sql


@dataclass(frozen=True)
class Setting:
    key: str
    outside_writes: bool
    client_addr: bool


SETTINGS = [
    Setting("attribution off", False, False),
    Setting("attribution on", True, True),
    Setting("attribution on, no client address", True, False),
]


def _table() -> str:
    return database.table(bench_models.CoreItem)


def _statement(rows: int, saves: int) -> None:
    with transaction.atomic():
        database.execute(f"UPDATE {_table()} SET price = price + 1, updated_at = now()")


def _loop(rows: int, saves: int) -> None:
    with transaction.atomic():
        database.execute(
            f"DO $$ BEGIN FOR i IN 1..{saves} LOOP UPDATE {_table()} SET price = price + 1, "
            "updated_at = now() WHERE id = i; END LOOP; END $$"
        )


#: Calls of the resolve workload.
RESOLVE_CALLS = 100_000


def _resolve(rows: int, saves: int) -> None:
    # What each statement pays to resolve its context, alone: the function the triggers call.
    with transaction.atomic():
        database.execute(
            f"SELECT count(pghistory_core_context_id()) FROM generate_series(1, {RESOLVE_CALLS})"
        )


#: Statements of the autocommit workload (each commits: more would time the disk).
AUTOCOMMIT_STATEMENTS = 500


def _autocommit(rows: int, saves: int) -> None:
    # Each statement its own transaction, as a client in autocommit sends them; without waiting
    # for the WAL flush of each commit, which would hide what the triggers cost.
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        try:
            for i in range(1, min(saves, AUTOCOMMIT_STATEMENTS) + 1):
                cursor.execute(
                    f"UPDATE {_table()} SET price = price + 1, updated_at = now() WHERE id = %s",
                    [i],
                )
        finally:
            cursor.execute("RESET synchronous_commit")


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    run: Callable[[int, int], None]


def workloads(rows: int, saves: int) -> list[Workload]:
    return [
        Workload("statement", f"one `UPDATE` of {rows:,} rows", _statement),
        Workload(
            "loop", f"{saves:,} single-row `UPDATE`s in one transaction (PL/pgSQL loop)", _loop
        ),
        Workload(
            "resolve",
            f"{RESOLVE_CALLS:,} calls of `pghistory_core_context_id()` in one transaction "
            "(what each statement pays)",
            _resolve,
        ),
        Workload(
            "autocommit",
            f"{min(saves, AUTOCOMMIT_STATEMENTS):,} single-row `UPDATE`s, one transaction each "
            "(`synchronous_commit = off`)",
            _autocommit,
        ),
    ]


def _install(setting: Setting) -> None:
    database.execute(sql.functions_sql(setting.outside_writes, setting.client_addr))


def _sample(workload: Workload, setting: Setting, rows: int, saves: int) -> dict[str, Any]:
    model = bench_models.CoreItem
    events = bench_models.CoreItemEvent  # type: ignore[attr-defined]
    database.truncate(model, events, *context_tables())
    seed(model, rows)
    _install(setting)
    # Compile the functions the new definitions replaced (a write rolled back).
    with transaction.atomic():
        database.execute(f"UPDATE {_table()} SET price = price WHERE id = 1")
        transaction.set_rollback(True)
    database.checkpoint()
    seconds, _ = timed(lambda: workload.run(rows, saves))
    return {
        "seconds": seconds,
        "events": database.count(events),
        "contexts": int(database.scalar("SELECT count(*) FROM pghistory_core_context")),
    }


def run(rows: int, saves: int, repeat: int) -> dict[str, Any]:
    """Every workload under every setting; JSON-ready results."""
    found: dict[str, Any] = {}
    # This session writes as psql would: not marked as Django's (runtime.mark_django_session),
    # whose writes without a context record none.
    database.execute(f"SELECT set_config('{config.DJANGO_SESSION_SETTING}', '', false)")
    try:
        for workload in workloads(rows, saves):
            collected: dict[str, list[dict[str, Any]]] = {s.key: [] for s in SETTINGS}
            for setting in SETTINGS:  # warm-up
                _sample(workload, setting, min(rows, 200), min(saves, 20))
            for rep in range(repeat):
                shift = rep % len(SETTINGS)
                for setting in SETTINGS[shift:] + SETTINGS[:shift]:
                    measured = _sample(workload, setting, rows, saves)
                    collected[setting.key].append(measured)
                    print(
                        f"  outside writes rep {rep + 1}/{repeat} {workload.key:<10} "
                        f"{setting.key:<36} {measured['seconds']:8.3f} s  "
                        f"contexts={measured['contexts']}",
                        file=sys.stderr,
                    )
            found[workload.key] = {
                "title": workload.title,
                "settings": {
                    key: {
                        **Samples([m["seconds"] for m in samples]).as_dict(),
                        "events": [m["events"] for m in samples],
                        "contexts": [m["contexts"] for m in samples],
                    }
                    for key, samples in collected.items()
                },
            }
    finally:
        database.truncate(bench_models.CoreItem, bench_models.CoreItemEvent, *context_tables())  # type: ignore[attr-defined]
        sql.install_functions(connection.alias)
        runtime.mark_django_session(connection)
    return found
