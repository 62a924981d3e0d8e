"""Streaming CSV export of an event stream (``Events`` / ``MiddlewareEvents`` queryset).

Two paths produce the same content: ``copy_chunks`` (what ``csv_response`` streams), where
Postgres formats the rows with ``COPY … TO STDOUT``, and ``csv_rows``, the same rows built in
Python. Both read the filtered events newest first by keyset over ``pgh_id``, a chunk at a time,
so memory stays constant whatever the export's size.

How ``copy_chunks`` computes the diff column in one pass is told in ``export.copy``.
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
