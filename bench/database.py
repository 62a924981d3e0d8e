"""SQL helpers of the benchmarks: truncation, maintenance, trigger-free seeding, EXPLAIN."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, models, transaction

CONTEXT_ID = "00000000-0000-4000-8000-00000000be4c"
CONTEXT_METADATA = '{"url": "/bench", "user": 1}'


def qn(name: str) -> str:
    """Quote an identifier."""
    return connection.ops.quote_name(name)


def table(model: type[models.Model]) -> str:
    """The quoted table name of ``model``."""
    return qn(model._meta.db_table)


def execute(sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement; its rows (empty when it returns none)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []


def scalar(sql: str, params: Sequence[Any] | None = None) -> Any:
    """The first column of the first row of a query."""
    return execute(sql, params)[0][0]


def truncate(*tables: type[models.Model] | str) -> None:
    """Empty tables (and their identity sequences) at once."""
    names = [table(t) if not isinstance(t, str) else qn(t) for t in tables]
    execute(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")


def settle_context() -> None:
    """Let pghistory_core send its pending "context closed" reset now, outside any measurement.

    After a ``pghistory_core.context()`` closes inside a transaction, pghistory_core prefixes the
    connection's next write with a reset of the ``pghistory.context_*`` settings. Those are the
    settings django-pghistory uses too, so the reset would also wipe django-pghistory's context
    from its first write (reported to the lead). A no-op write outside a transaction consumes it.
    """
    execute("DELETE FROM pghistory_core_context WHERE false")


def checkpoint() -> None:
    """Flush dirty buffers, so no sample pays for the writes of the previous one."""
    execute("CHECKPOINT")


def vacuum_analyze(*tables: type[models.Model] | str) -> None:
    """``VACUUM (ANALYZE)`` each table (outside a transaction)."""
    for t in tables:
        execute(f"VACUUM (ANALYZE) {table(t) if not isinstance(t, str) else qn(t)}")


def count(model: type[models.Model], where: str = "") -> int:
    """Rows of ``model``'s table, optionally matching ``where``."""
    return int(
        scalar(f"SELECT count(*) FROM {table(model)}" + (f" WHERE {where}" if where else ""))
    )


@contextmanager
def triggers_disabled() -> Iterator[None]:
    """A transaction in which no (non-``ALWAYS``) trigger fires, for seeding tracked tables."""
    with transaction.atomic():
        execute("SET LOCAL session_replication_role = replica")
        yield
        execute("SET LOCAL session_replication_role = origin")


def set_context() -> None:
    """Open a history context inside the current transaction, as both trigger libraries read it.

    django-pghistory reads ``pghistory.context_*``, pghistory-admin ``pghistory_core.context_*``.
    """
    execute(
        "SELECT set_config('pghistory.context_id', %s, true), "
        "set_config('pghistory.context_metadata', %s, true), "
        "set_config('pghistory_core.context_id', %s, true), "
        "set_config('pghistory_core.context_metadata', %s, true)",
        [CONTEXT_ID, CONTEXT_METADATA, CONTEXT_ID, CONTEXT_METADATA],
    )


def explain(sql: str, params: Sequence[Any] | None = None, *, analyze: bool = True) -> str:
    """The plan of a statement, as text (``EXPLAIN (ANALYZE, BUFFERS)`` by default)."""
    rows = execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}" if analyze else f"EXPLAIN {sql}", params)
    return "\n".join(row[0] for row in rows)


def execution_ms(plan: str) -> float | None:
    """``Execution Time`` of an ``EXPLAIN ANALYZE`` plan, in milliseconds."""
    for line in reversed(plan.splitlines()):
        if line.strip().startswith("Execution Time:"):
            return float(line.split(":")[1].split()[0])
    return None
