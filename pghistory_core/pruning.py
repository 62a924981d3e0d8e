"""Retention for unpartitioned event tables: delete in small batches, each its own transaction.

Small batches keep locks and WAL bursts short, so pruning can run while the application writes.
Append-only tables are pruned only through the explicit bypass.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connections, router, transaction

from pghistory_core.append_only import bypass
from pghistory_core.meta import column
from pghistory_core.sql_builders import quote


class AppendOnlyError(Exception):
    """Pruning an append-only event table without the explicit bypass."""


def _guard(
    event_model: Any, allow_append_only: bool, using: str
) -> contextlib.AbstractContextManager[Any]:
    if not getattr(event_model, "pgh_append_only", False):
        return contextlib.nullcontext()
    if not allow_append_only:
        raise AppendOnlyError(
            f"{event_model._meta.label} is append-only; pass the explicit bypass "
            "(--bypass-append-only / allow_append_only=True) to prune it."
        )
    return bypass(event_model, databases=[using])


def _batches(
    event_model: Any, sql: str, params: list[Any], using: str, allow_append_only: bool
) -> Iterator[int]:
    while True:
        with (
            transaction.atomic(using=using),
            _guard(event_model, allow_append_only, using),
            connections[using].cursor() as cursor,
        ):
            cursor.execute(sql, params)
            deleted = cursor.rowcount
        yield deleted
        if deleted == 0:
            return


def prune_older_than(
    event_model: Any,
    cutoff: datetime.datetime,
    *,
    batch_size: int = 5000,
    using: str | None = None,
    allow_append_only: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete the events of ``event_model`` created before ``cutoff``; returns how many."""
    using = using or router.db_for_write(event_model)
    table = quote(event_model._meta.db_table)
    created = quote(column(event_model, "pgh_created_at"))
    sql = (
        f"DELETE FROM {table} WHERE pgh_id IN (SELECT pgh_id FROM {table} "
        f"WHERE {created} < %s ORDER BY pgh_id LIMIT %s)"
    )
    total = 0
    for deleted in _batches(event_model, sql, [cutoff, batch_size], using, allow_append_only):
        total += deleted
        if progress and deleted:
            progress(total)
    return total


def prune_keep_last(
    event_model: Any,
    keep: int,
    *,
    batch_size: int = 500,
    using: str | None = None,
    allow_append_only: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Keep only the newest ``keep`` events of each object; returns how many were deleted.

    Objects are visited in batches of ``batch_size`` ids along the ``(pgh_obj_id, pgh_id)`` index.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1.")
    if not event_model.pgh_has_obj:
        raise ValueError(f"{event_model._meta.label} has no pgh_obj: nothing to keep per object.")
    using = using or router.db_for_write(event_model)
    table = quote(event_model._meta.db_table)
    obj = quote(column(event_model, "pgh_obj"))
    next_ids = (
        f"SELECT DISTINCT {obj} FROM {table} WHERE %s::text IS NULL OR {obj} > %s "
        f"ORDER BY {obj} LIMIT %s"
    )
    delete = (
        f"DELETE FROM {table} WHERE pgh_id IN (SELECT pgh_id FROM (SELECT pgh_id, row_number() "
        f"OVER (PARTITION BY {obj} ORDER BY pgh_id DESC) AS _pgh_rank FROM {table} "
        f"WHERE {obj} = ANY(%s)) AS ranked WHERE _pgh_rank > %s)"
    )
    total = 0
    last: Any = None
    while True:
        with connections[using].cursor() as cursor:
            cursor.execute(next_ids, [last, last, batch_size])
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return total
        last = ids[-1]
        with (
            transaction.atomic(using=using),
            _guard(event_model, allow_append_only, using),
            connections[using].cursor() as cursor,
        ):
            cursor.execute(delete, [ids, keep])
            total += cursor.rowcount
        if progress:
            progress(total)
