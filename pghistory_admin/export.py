"""Streaming CSV export of an event stream (``Events`` / ``MiddlewareEvents`` queryset).

Rows are read by keyset over ``pgh_id`` descending, a chunk at a time, so memory stays constant
and each query is the ``ORDER BY pgh_id DESC LIMIT n`` shape the aggregate pushes into every
event table (``pgh_diff`` is only computed for the rows of the chunk).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

from pghistory_core.models import Context

__all__ = [
    "FORMULA_PREFIXES",
    "context_keys",
    "copy_chunks",
    "csv_response",
    "csv_rows",
    "neutralise",
]

#: Characters a spreadsheet reads as the start of a formula (see ``neutralise``).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_COLUMNS = ("pgh_id", "created_at", "model", "object_id", "label", "context_id")
_VALUES = (
    "pgh_id",
    "pgh_created_at",
    "pgh_obj_model",
    "pgh_obj_id",
    "pgh_label",
    "pgh_context_id",
    "pgh_context_metadata",
    "pgh_data",
    "pgh_diff",
)


class _ObjectKeys(models.Func):
    function = "jsonb_object_keys"
    output_field = models.TextField()


class _JSONType(models.Func):
    function = "jsonb_typeof"
    output_field = models.TextField()


class _Echo:
    """A file whose ``write`` hands the line back, so ``csv.writer`` can feed a generator."""

    def write(self, value: str) -> str:
        return value


def csv_response(queryset: models.QuerySet[Any], *, filename: str) -> StreamingHttpResponse:
    """Stream the CSV of ``queryset`` (see ``csv_rows``) as an attachment named ``filename``.

    The rows are formatted by Postgres (``COPY … TO STDOUT``, see ``copy_chunks``); the content is
    the same as ``csv_rows`` produces.
    """
    return StreamingHttpResponse(
        copy_chunks(queryset),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition_header(True, filename)},
    )


def copy_chunks(queryset: models.QuerySet[Any], *, chunk_size: int = 10000) -> Iterator[bytes]:
    """The CSV of ``queryset`` as bytes: the header, then rows formatted by ``COPY``.

    Each chunk first reads the next ``chunk_size`` ids by keyset (cheap: no diff is computed),
    then has Postgres format exactly that id range with the same filters, diffs included, and
    hands over the bytes. Memory stays at one chunk whatever the export's size.
    """
    keys = context_keys(queryset)
    header = [*_COLUMNS, *(_key_column(key) for key in keys), "data", "diff"]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([neutralise(name) for name in header])
    yield buffer.getvalue().encode()
    using = queryset.db
    connection = connections[using]
    ordered = queryset.order_by("-pgh_id")
    last: int | None = None
    while True:
        page = ordered if last is None else ordered.filter(pgh_id__lt=last)
        ids = list(page.values_list("pgh_id", flat=True)[:chunk_size])
        if not ids:
            return
        rows = ordered.filter(pgh_id__lte=ids[0], pgh_id__gte=ids[-1]).values(*_VALUES)
        sql, params = rows.query.sql_with_params()
        select = connection.ops.compose_sql(sql, params)  # type: ignore[attr-defined]
        statement = _copy_sql(select, keys, timezone.get_current_timezone_name())
        with connection.cursor() as cursor:
            output = _copy(cursor.cursor, statement)
        yield output
        if len(ids) < chunk_size:
            return
        last = ids[-1]


def _neutralise_sql(expression: str) -> str:
    # The SQL twin of ``neutralise``: a leading = + - @ tab or CR gets a quote.
    return (
        f"CASE WHEN {expression} ~ '^[=+@\\t\\r-]' THEN '''' || {expression} ELSE {expression} END"
    )


def _created_sql(expression: str, zone: str) -> str:
    # ISO 8601 in ``zone`` with its offset, like ``datetime.isoformat()``; the session's time zone
    # is left alone (it also renders the timestamps inside the JSON columns).
    local = f"({expression} AT TIME ZONE {_literal(zone)})"
    offset = f"({local} - ({expression} AT TIME ZONE 'UTC'))"
    return (
        f"to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || CASE WHEN {offset} < interval '0' "
        f"THEN '-' || to_char(-{offset}, 'HH24:MI') ELSE '+' || to_char({offset}, 'HH24:MI') END"
    )


def _copy_sql(select: str, keys: list[str], zone: str) -> str:
    names = [f"c{index}" for index in range(len(_VALUES))]
    created = _created_sql("q.c1", zone)
    columns = [
        "q.c0",
        created,
        *(_neutralise_sql(f"q.c{index}::text") for index in (2, 3, 4)),
        "q.c5",
        *(_neutralise_sql(f"(q.c6 ->> {_literal(key)})") for key in keys),
        "q.c7::text",
        "q.c8::text",
    ]
    return (
        f"COPY (SELECT {', '.join(columns)} FROM ({select}) AS q({', '.join(names)}) "
        "ORDER BY q.c0 DESC) TO STDOUT WITH (FORMAT csv)"
    )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _copy(raw_cursor: Any, statement: str) -> bytes:
    """Run ``COPY … TO STDOUT`` with either driver and return its output."""
    if hasattr(raw_cursor, "copy_expert"):  # psycopg2
        output = io.BytesIO()
        raw_cursor.copy_expert(statement, output)
        return output.getvalue()
    with raw_cursor.copy(statement) as copy:  # psycopg 3
        return b"".join(bytes(data) for data in copy)


def csv_rows(queryset: models.QuerySet[Any], *, chunk_size: int = 2000) -> Iterator[list[str]]:
    """The header, then one row per event, newest first.

    Columns: ``pgh_id``, ``created_at`` (ISO 8601 with microseconds and offset, current time
    zone), ``model``, ``object_id``, ``label``, ``context_id``, one column per context metadata
    key found in the exported events (sorted; named ``context.<key>`` if the key is one of these
    column names), ``data`` and ``diff`` (JSON). Every cell goes through ``neutralise``.

    ``queryset`` must be unsliced; its ordering is replaced by ``-pgh_id``.
    """
    keys = context_keys(queryset)
    header = [*_COLUMNS, *(_key_column(key) for key in keys), "data", "diff"]
    yield [neutralise(name) for name in header]
    for event in _events(queryset, chunk_size):
        metadata = event["pgh_context_metadata"]
        if not isinstance(metadata, dict):
            metadata = {}
        values = [
            event["pgh_id"],
            event["pgh_created_at"],
            event["pgh_obj_model"],
            event["pgh_obj_id"],
            event["pgh_label"],
            event["pgh_context_id"],
            *(metadata.get(key) for key in keys),
            event["pgh_data"],
            event["pgh_diff"],
        ]
        yield [neutralise(_text(value)) for value in values]


def context_keys(queryset: models.QuerySet[Any]) -> list[str]:
    """Sorted metadata keys of the contexts of these events, without reading the events' rows.

    Context rows (``fk`` contexts) are found through the events' ``pgh_context_id``; event
    models with a denormalised ``json`` context are asked for their own column.
    """
    chosen = queryset.event_models()  # type: ignore[attr-defined]
    keys: set[str] = set()
    if any(model.pgh_context_kind == "fk" for model in chosen):
        ids = queryset.order_by().values("pgh_context_id")
        contexts = Context.objects.using(queryset.db).filter(id__in=ids)
        keys |= _object_keys(contexts, "metadata")
    json_models = [model for model in chosen if model.pgh_context_kind == "json"]
    if json_models:
        keys |= _object_keys(queryset.across(*json_models), "pgh_context_metadata")  # type: ignore[attr-defined]
    return sorted(keys)


def neutralise(cell: str) -> str:
    """Defuse spreadsheet formula injection (CSV injection).

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run as a
    formula by Excel, LibreOffice or Google Sheets; such a cell gets a leading ``'`` so it shows
    as text. This applies to every cell, headers and negative numbers (``-2``) included.
    """
    return f"'{cell}" if cell.startswith(FORMULA_PREFIXES) else cell


def _object_keys(queryset: models.QuerySet[Any], column: str) -> set[str]:
    # jsonb_object_keys() raises on non-objects; WHERE runs before the set-returning SELECT.
    rows = (
        queryset.order_by()
        .alias(_pgh_type=_JSONType(column))
        .filter(_pgh_type="object")
        .annotate(_pgh_key=_ObjectKeys(column))
        .values_list("_pgh_key", flat=True)
        .distinct()
    )
    return set(rows)


def _events(queryset: models.QuerySet[Any], chunk_size: int) -> Iterator[dict[str, Any]]:
    """Every event as a dict, by keyset on ``pgh_id`` (no OFFSET, one query per chunk)."""
    ordered = queryset.order_by("-pgh_id").values(*_VALUES)
    last: int | None = None
    while True:
        page = ordered if last is None else ordered.filter(pgh_id__lt=last)
        chunk = list(page[:chunk_size])
        yield from chunk
        if len(chunk) < chunk_size:
            return
        last = chunk[-1]["pgh_id"]


def _key_column(key: str) -> str:
    return f"context.{key}" if key in (*_COLUMNS, "data", "diff") else key


def _text(value: Any) -> str:
    """A cell: scalars as text, timestamps as full ISO 8601, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict | list | bool):
        return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True)
    return str(value)  # UUID, Decimal, ...
