"""Streaming CSV export of an event stream (``Events`` / ``MiddlewareEvents`` queryset).

Two paths produce the same content: ``copy_chunks`` (what ``csv_response`` streams), where
Postgres formats the rows with ``COPY … TO STDOUT``, and ``csv_rows``, the same rows built in
Python. Both read the filtered events newest first by keyset over ``pgh_id``, a chunk at a time,
so memory stays constant whatever the export's size.

``copy_chunks`` computes the diff column in one pass per chunk and event table: the table's events
in the chunk's ``pgh_id`` range are ordered by object, and each gets its predecessor's values from
``lag(…) OVER (PARTITION BY pgh_obj ORDER BY pgh_id)``. The window runs over the range's events
before the export's filter is applied, so a predecessor that the filter leaves out still counts.
Only an object's first event in the range looks its predecessor up (one probe of the
``(pgh_obj, pgh_id)`` index), and only when the table has events older than the range.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from pghistory_admin.export.cells import FORMULA_PREFIXES, context_keys, neutralise, secret_keys
from pghistory_admin.export.copy import BLOCK_SIZE, COPY_CHUNK_SIZE, copy_chunks, copy_statements
from pghistory_admin.export.rows import csv_rows

__all__ = [
    "BLOCK_SIZE",
    "COPY_CHUNK_SIZE",
    "FORMULA_PREFIXES",
    "context_keys",
    "copy_chunks",
    "copy_statements",
    "csv_response",
    "csv_rows",
    "neutralise",
    "secret_keys",
]


def csv_response(queryset: models.QuerySet[Any], *, filename: str) -> StreamingHttpResponse:
    """Stream the CSV of ``queryset`` (see ``csv_rows``) as an attachment named ``filename``.

    The rows are formatted by Postgres (``COPY … TO STDOUT``, see ``copy_chunks``); the content is
    the same as ``csv_rows`` produces. A client that disconnects makes the server close the
    response, which cancels the ``COPY`` running for it (see ``copy_chunks``).
    """
    return StreamingHttpResponse(
        copy_chunks(queryset),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition_header(True, filename)},
    )
