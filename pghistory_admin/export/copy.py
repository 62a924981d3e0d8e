"""The export formatted by Postgres, run: chunks planned by keyset, each one's ``COPY`` streamed.

``ChunkPlanner`` reads the ``pgh_id`` bounds of the next chunk (cheap: no diff) and has
``export.copy_sql`` build its ``COPY … TO STDOUT``; ``stream`` and ``copy_into`` run a statement
and hand its output over in blocks, under the statement timeout (``bounded``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, models, transaction
from django.db.backends.postgresql.psycopg_any import is_psycopg3
from django.db.models.expressions import Col
from django.db.models.lookups import Lookup
from django.utils import timezone

from pghistory_admin import conf, timeouts
from pghistory_admin.export.cell_sql import secret_key_regex
from pghistory_admin.export.cells import (
    actions,
    header,
    neutralise,
)
from pghistory_admin.export.copy_out import copy_out_blocks
from pghistory_admin.export.copy_sql import Chunk, CopyFormat, copy_sql

#: Events per ``COPY`` statement. psycopg 3 hands a statement's rows over as they come, so chunks
#: can be large (fewer objects whose predecessor lies before the chunk); psycopg 2 receives a
#: statement's whole output at once, so its chunks stay small.
COPY_CHUNK_SIZE = 250_000 if is_psycopg3 else 10_000

#: Events per ``COPY`` of a parallel export (``export.parallel``): its output is handed over in
#: blocks with either driver, and what the reader is not ready for waits in a spool.
PARALLEL_CHUNK_SIZE = 100_000


#: Bytes handed to the response at a time (psycopg 3).
BLOCK_SIZE = 256 * 1024

_RANGE_LOOKUPS = {"exact", "gt", "gte", "lt", "lte"}


def serial_chunks(
    queryset: models.QuerySet[Any],
    *,
    chunk_size: int | None = None,
    keys: list[str] | None = None,
) -> Iterator[bytes]:
    """The CSV of ``queryset`` as bytes on the current connection: the header, then rows
    formatted by ``COPY``, one transaction (or savepoint) per chunk.

    Each chunk first reads the ``pgh_id`` bounds of the next ``chunk_size`` events by keyset
    (cheap: no diff), then one ``COPY`` formats exactly those events, diffs included (see
    ``export.copy_sql``). With psycopg 3 the output is handed over in blocks of about
    ``BLOCK_SIZE`` bytes while Postgres produces it; with psycopg 2 a chunk's output comes at once.

    Closing the generator while a ``COPY`` runs (a server closes the response of a client that
    went away) cancels the ``COPY`` on the server: psycopg 3 sends a cancel request and drains the
    connection. Inside a transaction, each ``COPY`` runs in a savepoint, rolled back then, so the
    connection stays usable. With psycopg 2 the generator only pauses between statements.
    """
    if keys is None:
        keys = conf.export_context_columns()
    yield header_line(keys)
    connection = connections[queryset.db]
    for statement in copy_statements(queryset, chunk_size=chunk_size, keys=keys):
        yield from stream(connection, statement)


def header_line(keys: list[str]) -> bytes:
    """The export's header as ``COPY`` would print it."""
    return (",".join(_csv_cell(neutralise(name)) for name in header(keys)) + "\n").encode()


def copy_statements(
    queryset: models.QuerySet[Any],
    *,
    chunk_size: int | None = None,
    keys: list[str] | None = None,
    first_chunk_size: int | None = None,
) -> Iterator[str]:
    """The ``COPY … TO STDOUT`` statements of ``copy_chunks``, one per chunk (e.g. to explain).

    Each is built when asked for: a query reads the bounds of the chunk after the previous
    one's. ``keys`` are the context metadata keys exported as columns of their own (default:
    ``PGHISTORY_ADMIN_EXPORT_CONTEXT_COLUMNS``). ``first_chunk_size`` makes the first chunk
    smaller (``csv_response`` runs it before the response starts).
    """
    planner = ChunkPlanner(
        queryset, chunk_size=chunk_size, keys=keys, first_chunk_size=first_chunk_size
    )
    while (statement := planner.next_statement()) is not None:
        yield statement


class ChunkPlanner:
    """The chunks of one export, newest first: each ``next_statement()`` reads the bounds of the
    chunk after the previous one's and builds its ``COPY``.

    Every query runs on the calling thread's connection of the queryset's alias, so parallel
    readers (``export.parallel``) take turns planning, each on its own connection. Not
    thread-safe: callers serialise the calls.
    """

    def __init__(
        self,
        queryset: models.QuerySet[Any],
        *,
        chunk_size: int | None = None,
        keys: list[str] | None = None,
        first_chunk_size: int | None = None,
    ) -> None:
        if keys is None:
            keys = conf.export_context_columns()
        self.queryset = queryset
        self.size = chunk_size or COPY_CHUNK_SIZE
        self.first_chunk_size = first_chunk_size
        self.chosen = {model._meta.label: model for model in queryset.event_models()}  # type: ignore[attr-defined]
        self.export = CopyFormat(
            keys=keys,
            zone=timezone.get_current_timezone_name(),
            filtered=not _range_only(queryset),
            connection=connections[queryset.db],
            actions=actions(),
            secret_pattern=secret_key_regex(),
        )
        self.ordered = queryset.order_by("-pgh_id")
        self.last: int | None = None
        self.done = False

    def next_statement(self) -> str | None:
        """The next chunk's ``COPY``, or ``None`` after the last one."""
        if self.done:
            return None
        connection = connections[self.queryset.db]
        first = self.last is None
        page = self.ordered if first else self.ordered.filter(pgh_id__lt=self.last)
        wanted = self.first_chunk_size if first and self.first_chunk_size else self.size
        chunk = _bounds(page, wanted, connection)
        if chunk is None:
            self.done = True
            return None
        rows = self.queryset.order_by().filter(pgh_id__gte=chunk.lo, pgh_id__lte=chunk.hi)
        models_ = [self.chosen[label] for label in chunk.labels]
        export = replace(self.export, connection=connection)
        self.done = chunk.count < wanted
        self.last = chunk.lo
        return copy_sql(rows, models_, chunk, export)


def _bounds(page: models.QuerySet[Any], size: int, connection: Any) -> Chunk | None:
    try:
        sql, params = page.values("pgh_id", "pgh_model")[:size].query.sql_with_params()
    except EmptyResultSet:  # queryset.none()
        return None
    with bounded(connection), connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(_c.pgh_id), max(_c.pgh_id), count(*), "
            f"array_agg(DISTINCT _c.pgh_model) FROM ({sql}) AS _c",
            params,
        )
        lo, hi, count, labels = cursor.fetchone()
    return Chunk(lo, hi, count, sorted(labels)) if count else None


def bounded(connection: Any) -> AbstractContextManager[Any]:
    """Where one statement of an export runs: in a transaction of its own under
    ``PGHISTORY_ADMIN_STATEMENT_TIMEOUT``, else in a savepoint inside a transaction (so a
    cancelled ``COPY`` leaves the enclosing transaction usable)."""
    if conf.statement_timeout():
        return timeouts.statement_timeout(using=[connection.alias])
    if connection.in_atomic_block:
        return transaction.atomic(using=connection.alias)
    return nullcontext()


def stream(connection: Any, statement: str) -> Iterator[bytes]:
    """Run ``COPY … TO STDOUT``; its output in blocks as it comes (psycopg 3) or at once."""
    # The driver's errors as Django's (``DatabaseError``), as the cursor's own methods raise them.
    with bounded(connection), connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        if hasattr(raw, "copy_expert"):  # psycopg2: returns when the COPY is done
            output = io.BytesIO()
            raw.copy_expert(statement, output)
            yield output.getvalue()
            return
        # Leaving this block early (GeneratorExit at a yield) makes psycopg cancel the COPY.
        with raw.copy(statement) as copy:
            yield from copy_out_blocks(copy, BLOCK_SIZE)


def copy_into(connection: Any, statement: str, write: Callable[[bytes], None]) -> None:
    """Run ``COPY … TO STDOUT`` on ``connection`` as it is (no transaction of its own), handing
    its output to ``write`` in blocks of about ``BLOCK_SIZE`` bytes while it comes (both
    drivers). An exception raised by ``write`` stops the ``COPY`` (psycopg 3 cancels it; with
    psycopg 2 the connection is left unusable and must be closed). The driver's errors are
    raised as Django's."""
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        if hasattr(raw, "copy_expert"):  # psycopg2 writes each row to the file it is given
            sink = _BlockWriter(write)
            raw.copy_expert(statement, sink)
            sink.flush()
            return
        with raw.copy(statement) as copy:
            for block in copy_out_blocks(copy, BLOCK_SIZE):
                write(block)


class _BlockWriter:
    """A file for psycopg 2's ``copy_expert``: rows gathered into blocks of ``BLOCK_SIZE``."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self.block = bytearray()
        self.emit = write

    def write(self, data: bytes) -> None:
        self.block += data
        if len(self.block) >= BLOCK_SIZE:
            self.flush()

    def flush(self) -> None:
        if self.block:
            self.emit(bytes(self.block))
            self.block.clear()


def _range_only(queryset: models.QuerySet[Any]) -> bool:
    """Whether ``queryset`` keeps every event of its tables within a ``pgh_id`` range.

    Then a chunk's events are all events of its range and the filter need not run again.
    """
    query = queryset.query
    if getattr(query, "pgh_obj_filters", ()) or query.where.negated:
        return False
    if query.where.connector != "AND":
        return False
    for child in query.where.children:
        lhs = getattr(child, "lhs", None)
        target = getattr(lhs, "target", None)
        if not isinstance(child, Lookup) or not isinstance(lhs, Col) or target is None:
            return False
        if target.name != "pgh_id" or child.lookup_name not in _RANGE_LOOKUPS:
            return False
        if not isinstance(child.rhs, int):
            return False
    return True


def _csv_cell(value: str) -> str:
    # Quoted as COPY quotes a cell in CSV format (a CR too, unlike csv.writer with "\n" lines).
    if value and not any(char in value for char in ',"\n\r'):
        return value
    return '"' + value.replace('"', '""') + '"'
