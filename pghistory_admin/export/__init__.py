"""Streaming CSV export of an event stream (``Events`` / ``MiddlewareEvents`` queryset).

Two paths produce the same content: ``copy_chunks`` (what ``csv_response`` streams), where
Postgres formats the rows with ``COPY … TO STDOUT``, and ``csv_rows``, the same rows built in
Python. Both read the filtered events newest first by keyset over ``pgh_id``, a chunk at a time,
so memory stays constant whatever the export's size.

How ``copy_chunks`` computes the diff column in one pass is told in ``export.copy``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
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
    copy_chunks,
    copy_statements,
    header_line,
    stream,
)
from pghistory_admin.export.rows import csv_rows

logger = logging.getLogger("pghistory_admin.export")

#: Events of the first ``COPY``, run (and read whole) before the response starts: an export
#: that cannot run fails there, with an error page instead of a download.
FIRST_CHUNK_SIZE = 500
#: The line a download ends with when the export failed after it started (the connection is
#: aborted too; this shows in the file where a server cannot make the client see that).
FAILURE_LINE = b"\n# export failed: this file is incomplete\n"

__all__ = [
    "BLOCK_SIZE",
    "COLUMNS",
    "COPY_CHUNK_SIZE",
    "FAILURE_LINE",
    "FIRST_CHUNK_SIZE",
    "FORMULA_PREFIXES",
    "TRAILING",
    "context_keys",
    "copy_chunks",
    "copy_statements",
    "csv_response",
    "csv_rows",
    "header",
    "neutralise",
    "secret_keys",
]


def csv_response(
    queryset: models.QuerySet[Any], *, filename: str, trailer: bytes = b""
) -> StreamingHttpResponse:
    """Stream the CSV of ``queryset`` (see ``csv_rows``) as an attachment named ``filename``.

    The rows are formatted by Postgres (``COPY … TO STDOUT``, see ``copy_chunks``); the content is
    the same as ``csv_rows`` produces. What can fail runs before the response is returned: the
    settings, and the first ``FIRST_CHUNK_SIZE`` events' ``COPY`` (their bounds query included),
    so an export that cannot run raises here (e.g. a statement timeout) and the view answers
    with an error page.

    A failure after that (a later chunk's query cancelled, the connection lost) fails the
    download: the content yields ``FAILURE_LINE`` and re-raises, so the server aborts the
    response instead of completing it (a chunked response ends without its last chunk). A
    client that disconnects makes the server close the response, which cancels the ``COPY``
    running for it. ``trailer`` ends a complete download (e.g. ``search_limit_line``).
    """
    keys = conf.export_context_columns()
    connection = connections[queryset.db]
    statements = copy_statements(queryset, keys=keys, first_chunk_size=FIRST_CHUNK_SIZE)
    head = [header_line(keys)]
    first = next(statements, None)
    if first is not None:
        head.extend(stream(connection, first))
    return StreamingHttpResponse(
        _fail_loudly(head, _rest(connection, statements), trailer),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition_header(True, filename)},
    )


def _rest(connection: Any, statements: Iterator[str]) -> Iterator[bytes]:
    for statement in statements:
        yield from stream(connection, statement)


def _fail_loudly(head: Iterable[bytes], rest: Iterator[bytes], trailer: bytes) -> Iterator[bytes]:
    yield from head
    try:
        yield from rest
    except Exception:
        logger.exception("A CSV export failed after it started; the download is incomplete.")
        yield FAILURE_LINE
        raise
    if trailer:
        yield trailer
