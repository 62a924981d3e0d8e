"""Streaming CSV export of an event stream (``Events`` / ``MiddlewareEvents`` queryset).

``copy_chunks`` (what ``csv_response`` streams) has Postgres format the rows with
``COPY … TO STDOUT``. It reads the filtered events newest first by keyset over ``pgh_id``, a
chunk at a time, so memory stays constant whatever the export's size. (The tests check it
against the same rows built in Python: ``tests/admin/export_oracle.py``.)

How a ``COPY`` computes the diff column in one pass is told in ``export.copy_sql``; how several
connections format the chunks at once, in one snapshot, in ``export.parallel``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

from django.db import connections, models
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from pghistory_admin import conf
from pghistory_admin.export.cells import (
    COLUMNS,
    FORMULA_PREFIXES,
    TRAILING,
    context_keys,
    header,
    neutralise,
    secret_keys,
)
from pghistory_admin.export.copy import (
    BLOCK_SIZE,
    COPY_CHUNK_SIZE,
    PARALLEL_CHUNK_SIZE,
    copy_statements,
    header_line,
    serial_chunks,
    stream,
)
from pghistory_admin.export.parallel import APPLICATION_NAME, ParallelCopy

logger = logging.getLogger("pghistory_admin.export")

#: Events of the first ``COPY``, run (and read whole) before the response starts: an export
#: that cannot run fails there, with an error page instead of a download.
FIRST_CHUNK_SIZE = 500
#: The line a download ends with when the export failed after it started (the connection is
#: aborted too; this shows in the file where a server cannot make the client see that).
FAILURE_LINE = b"\n# export failed: this file is incomplete\n"

__all__ = [
    "APPLICATION_NAME",
    "BLOCK_SIZE",
    "COLUMNS",
    "COPY_CHUNK_SIZE",
    "FAILURE_LINE",
    "FIRST_CHUNK_SIZE",
    "FORMULA_PREFIXES",
    "PARALLEL_CHUNK_SIZE",
    "TRAILING",
    "ParallelCopy",
    "context_keys",
    "copy_chunks",
    "copy_statements",
    "csv_response",
    "export_connections",
    "header",
    "neutralise",
    "secret_keys",
]


def export_connections(queryset: models.QuerySet[Any]) -> int:
    """How many connections of its own an export of ``queryset`` opens now.

    ``PGHISTORY_ADMIN_EXPORT_CONNECTIONS``, or 0 inside an atomic block (a test's transaction
    included): other connections cannot see what it has not committed, so the export reads
    through the block's own connection.
    """
    wanted = conf.export_connections()
    return 0 if connections[queryset.db].in_atomic_block else wanted


def copy_chunks(
    queryset: models.QuerySet[Any], *, chunk_size: int | None = None
) -> Iterator[bytes]:
    """The CSV of ``queryset`` as bytes: the header, then rows formatted by ``COPY``.

    Formatted by ``export_connections(queryset)`` connections of its own in one snapshot
    (``ParallelCopy``; ``chunk_size`` events per ``COPY``, default ``PARALLEL_CHUNK_SIZE``), or
    with none by the current connection (``serial_chunks``, default ``COPY_CHUNK_SIZE``). The
    bytes are the same either way. Closing the generator closes the connections.
    """
    keys = conf.export_context_columns()
    workers = export_connections(queryset)
    if not workers:
        yield from serial_chunks(queryset, chunk_size=chunk_size, keys=keys)
        return
    copy = ParallelCopy(queryset, workers=workers, chunk_size=chunk_size, keys=keys)
    try:
        copy.start()
        yield header_line(keys)
        yield from copy
    finally:
        copy.close()


def csv_response(
    queryset: models.QuerySet[Any], *, filename: str, trailer: bytes = b""
) -> StreamingHttpResponse:
    """Stream the CSV of ``queryset`` as an attachment named ``filename``.

    The rows are formatted by Postgres (``COPY … TO STDOUT``, see ``copy_chunks``). What can
    fail runs before the response is returned: the settings, opening the export's connections,
    and the first ``FIRST_CHUNK_SIZE`` events' ``COPY`` (their bounds query included), so an
    export that cannot run raises here (e.g. a statement timeout) and the view answers with an
    error page.

    A failure after that (a later chunk's query cancelled, the connection lost) fails the
    download: the content yields ``FAILURE_LINE`` and re-raises, so the server aborts the
    response instead of completing it (a chunked response ends without its last chunk). A
    client that disconnects makes the server close the response, which cancels the ``COPY``
    running for it and closes the export's connections. ``trailer`` ends a complete download
    (e.g. ``search_limit_line``).
    """
    keys = conf.export_context_columns()
    workers = export_connections(queryset)
    head = [header_line(keys)]
    if workers:
        copy = ParallelCopy(queryset, workers=workers, keys=keys, first_chunk_size=FIRST_CHUNK_SIZE)
        copy.start()
        try:
            head.extend(copy.first_chunk())
        except BaseException:
            copy.close()
            raise
        content = _Download(head, iter(copy), copy.close, trailer=trailer)
    else:
        connection = connections[queryset.db]
        statements = copy_statements(queryset, keys=keys, first_chunk_size=FIRST_CHUNK_SIZE)
        first = next(statements, None)
        if first is not None:
            head.extend(stream(connection, first))
        content = _Download(head, _rest(connection, statements), trailer=trailer)
    return StreamingHttpResponse(
        content,
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition_header(True, filename)},
    )


class _Download:
    """A response's content: ``head``, then ``rest`` failing loudly; ``close()`` (called by the
    server, also when the client went away) closes what produces it, even if never iterated."""

    def __init__(
        self,
        head: list[bytes],
        rest: Iterator[bytes],
        close: Callable[[], None] | None = None,
        *,
        trailer: bytes = b"",
    ) -> None:
        self.rest = rest
        self.blocks = _fail_loudly(head, rest, trailer)
        self.on_close = close

    def __iter__(self) -> Iterator[bytes]:
        return self.blocks

    def close(self) -> None:
        self.blocks.close()
        close = getattr(self.rest, "close", None)
        if close is not None:
            close()
        if self.on_close is not None:
            self.on_close()


def _rest(connection: Any, statements: Iterator[str]) -> Iterator[bytes]:
    for statement in statements:
        yield from stream(connection, statement)


def _fail_loudly(head: Iterable[bytes], rest: Iterator[bytes], trailer: bytes) -> Generator[bytes]:
    yield from head
    try:
        yield from rest
    except Exception:
        logger.exception("A CSV export failed after it started; the download is incomplete.")
        yield FAILURE_LINE
        raise
    if trailer:
        yield trailer
