"""Range partitions of event tables on ``pgh_created_at``: list, premake and drop them.

A table is converted once by the ``PartitionEventTable`` migration operation. Partitions are
named ``<table>_pYYYYMMDD`` after their lower bound (UTC midnight) and a ``<table>_default``
partition catches rows no range covers, so writes never fail. Retention drops whole partitions
instead of deleting rows; on append-only tables that needs the explicit bypass.

One concept over 300 lines: partition naming, listing, premaking and dropping share the
bounds arithmetic and catalog queries.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connections, models, router, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from pghistory_core.append_only import bypass
from pghistory_core.meta import column
from pghistory_core.pruning import AppendOnlyError
from pghistory_core.sql_builders import literal, quote

__all__ = [
    "INTERVALS",
    "AppendOnlyError",
    "NotPartitionedError",
    "Partition",
    "create_partitions",
    "drop_partitions",
    "is_partitioned",
    "partitions",
]

logger = logging.getLogger(__name__)

INTERVALS = ("day", "week", "month")
_MAX_IDENTIFIER = 63
_UTC = datetime.UTC


class NotPartitionedError(Exception):
    """The event table is a plain table (no ``PartitionEventTable`` migration yet)."""


@dataclass(frozen=True)
class Partition:
    """One partition of an event table; bounds are ``None`` for the default partition."""

    name: str
    lower: datetime.datetime | None
    upper: datetime.datetime | None
    is_default: bool
    row_estimate: int


def check_interval(interval: str) -> str:
    """``interval`` if it is one of ``INTERVALS``, else a ``ValueError`` naming them."""
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}; got {interval!r}.")
    return interval


def check_premake(premake: int) -> int:
    """``premake`` if it is not negative."""
    if premake < 0:
        raise ValueError(f"premake must be 0 or more; got {premake}.")
    return premake


def aware(moment: datetime.datetime, name: str) -> datetime.datetime:
    """``moment`` in UTC; naive datetimes are refused (a bound must not depend on TIME_ZONE)."""
    if timezone.is_naive(moment):
        raise ValueError(f"{name} must be an aware datetime, got {moment!r}.")
    return moment.astimezone(_UTC)


def floor(moment: datetime.datetime, interval: str) -> datetime.datetime:
    """The lower bound of the partition holding ``moment`` (UTC; weeks start on Monday)."""
    day = aware(moment, "moment").replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "week":
        return day - datetime.timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def advance(lower: datetime.datetime, interval: str, steps: int = 1) -> datetime.datetime:
    """The bound ``steps`` intervals after the partition bound ``lower``."""
    if interval == "month":
        months = lower.month - 1 + steps
        return lower.replace(year=lower.year + months // 12, month=months % 12 + 1)
    return lower + datetime.timedelta(days=steps * (7 if interval == "week" else 1))


def partition_name(table: str, suffix: str) -> str:
    """``<table>_<suffix>``, shortened with a hash so Postgres never truncates two alike."""
    name = f"{table}_{suffix}"
    if len(name) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(table.encode(), usedforsecurity=False).hexdigest()[:6]
    return f"{table[: _MAX_IDENTIFIER - len(suffix) - 8]}_{digest}_{suffix}"


def range_name(table: str, lower: datetime.datetime) -> str:
    """The name of the range partition starting at ``lower``."""
    return partition_name(table, f"p{lower:%Y%m%d}")


def default_name(table: str) -> str:
    """The name of the default partition."""
    return partition_name(table, "default")


def bound(moment: datetime.datetime) -> str:
    """A partition bound as an SQL literal (DDL takes no query parameters)."""
    return literal(moment.isoformat(sep=" "))


def plan(
    floors: Iterable[datetime.datetime], now: datetime.datetime, interval: str, premake: int
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """Ranges for the given lower bounds plus the current one and ``premake`` future ones."""
    check_premake(premake)
    current = floor(now, interval)
    lowers = {floor(f, interval) for f in floors}
    lowers.update(advance(current, interval, step) for step in range(premake + 1))
    return [(lower, advance(lower, interval)) for lower in sorted(lowers)]


def data_floors(
    cursor: CursorWrapper, relation: str, created: str, interval: str
) -> list[datetime.datetime]:
    """Lower bounds of the ranges that rows of ``relation`` (a quoted name) fall into."""
    # date_trunc('week', …) starts weeks on Monday, like floor().
    cursor.execute(
        f"SELECT DISTINCT date_trunc(%s, {quote(created)} AT TIME ZONE 'UTC') FROM {relation}",
        [interval],
    )
    return [row[0].replace(tzinfo=_UTC) for row in cursor.fetchall()]


def _table(event_model: type[models.Model]) -> str:
    return event_model._meta.db_table


def _using(event_model: type[models.Model], using: str | None) -> str:
    return using or router.db_for_write(event_model)


def is_partitioned(event_model: type[models.Model], using: str | None = None) -> bool:
    """Whether the table of ``event_model`` is partitioned."""
    with connections[_using(event_model, using)].cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))",
            [quote(_table(event_model))],
        )
        return bool(cursor.fetchone()[0])


_PARTITIONS_SQL = r"""
SELECT c.relname,
       pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT',
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz,
       GREATEST(c.reltuples, 0)::bigint
FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
WHERE i.inhparent = to_regclass(%s)
ORDER BY 2, 3 NULLS FIRST, 1
"""


def partitions(event_model: type[models.Model], using: str | None = None) -> list[Partition]:
    """The partitions of ``event_model``'s table, oldest first, the default one last."""
    with connections[_using(event_model, using)].cursor() as cursor:
        # The bounds are printed in the session time zone and read back in the same session.
        cursor.execute(_PARTITIONS_SQL, [quote(_table(event_model))])
        return [
            Partition(name=name, lower=lower, upper=upper, is_default=default, row_estimate=rows)
            for name, default, lower, upper, rows in cursor.fetchall()
        ]


def _require_partitioned(event_model: type[models.Model], using: str) -> list[Partition]:
    if not is_partitioned(event_model, using=using):
        raise NotPartitionedError(
            f"{event_model._meta.label} is not partitioned: add "
            f"PartitionEventTable({event_model.__name__!r}) to a migration of its app."
        )
    return partitions(event_model, using=using)


def infer_interval(existing: Iterable[Partition]) -> str:
    """The interval of the newest range partition (``"month"`` when there is none)."""
    ranges = [
        (p.lower, p.upper, p.name) for p in existing if p.lower is not None and p.upper is not None
    ]
    if not ranges:
        return "month"
    lower, upper, name = max(ranges)
    days = (upper - lower).days
    if days == 1:
        return "day"
    if days == 7:
        return "week"
    if 28 <= days <= 31:
        return "month"
    raise ValueError(f"Cannot tell the interval of partition {name} ({days} days); pass interval=.")


def _append_only_bypass(
    event_model: type[models.Model], using: str
) -> contextlib.AbstractContextManager[Any]:
    if getattr(event_model, "pgh_append_only", False):
        return bypass(event_model, databases=[using])
    return contextlib.nullcontext()


def _attach(
    event_model: type[models.Model],
    using: str,
    default: str | None,
    lower: datetime.datetime,
    upper: datetime.datetime,
) -> str:
    """Create one range partition, moving the rows the default partition holds for it."""
    table = _table(event_model)
    name = range_name(table, lower)
    created = quote(column(event_model, "pgh_created_at"))
    connection = connections[using]
    # Built apart and attached: CREATE … PARTITION OF would lock the whole parent against
    # writes, ATTACH only blocks schema changes (and locks the default partition).
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            if default:
                cursor.execute(f"LOCK TABLE {quote(default)} IN ACCESS EXCLUSIVE MODE")
            cursor.execute(
                f"CREATE TABLE {quote(name)} (LIKE {quote(table)} INCLUDING DEFAULTS "
                "INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING GENERATED)"
            )
            cursor.execute(
                "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
                "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
                "AND attgenerated = ''",
                [quote(table)],
            )
            columns = cursor.fetchone()[0]
        if default:
            # Moving rows is not deleting history: the bypass lifts append_only for the DELETE.
            with _append_only_bypass(event_model, using), connection.cursor() as cursor:
                cursor.execute(
                    f"WITH moved AS (DELETE FROM {quote(default)} WHERE {created} >= %s "
                    f"AND {created} < %s RETURNING {columns}) "
                    f"INSERT INTO {quote(name)} ({columns}) SELECT {columns} FROM moved",
                    [lower, upper],
                )
                if cursor.rowcount:
                    logger.info("Moved %s rows from %s into %s.", cursor.rowcount, default, name)
        with connection.cursor() as cursor:
            cursor.execute(
                f"ALTER TABLE {quote(table)} ATTACH PARTITION {quote(name)} "
                f"FOR VALUES FROM ({bound(lower)}) TO ({bound(upper)})"
            )
    return name


def _overlaps(
    existing: list[Partition], lower: datetime.datetime, upper: datetime.datetime
) -> bool:
    # A missing bound of a range partition is MINVALUE or MAXVALUE.
    return any(
        not p.is_default
        and (p.lower is None or p.lower < upper)
        and (p.upper is None or p.upper > lower)
        for p in existing
    )


def create_partitions(
    event_model: type[models.Model],
    *,
    premake: int = 3,
    interval: str | None = None,
    now: datetime.datetime | None = None,
    using: str | None = None,
) -> list[str]:
    """Create the current and ``premake`` future partitions that are missing; returns their names.

    Idempotent. Ranges holding rows of the default partition are created too and the rows are
    moved into them. ``interval`` defaults to the one of the existing partitions.
    """
    using = _using(event_model, using)
    existing = _require_partitioned(event_model, using)
    interval = check_interval(interval or infer_interval(existing))
    table = _table(event_model)
    default = next((p.name for p in existing if p.is_default), None)
    floors: list[datetime.datetime] = []
    if default:
        with connections[using].cursor() as cursor:
            created = column(event_model, "pgh_created_at")
            floors = data_floors(cursor, quote(default), created, interval)
    created_names = []
    for lower, upper in plan(floors, now or timezone.now(), interval, premake):
        if not _overlaps(existing, lower, upper):
            created_names.append(_attach(event_model, using, default, lower, upper))
    if default is None:
        name = default_name(table)
        with connections[using].cursor() as cursor:
            cursor.execute(f"CREATE TABLE {quote(name)} PARTITION OF {quote(table)} DEFAULT")
        created_names.append(name)
    return created_names


def drop_partitions(
    event_model: type[models.Model],
    *,
    older_than: datetime.datetime,
    using: str | None = None,
    allow_append_only: bool = False,
) -> list[str]:
    """Detach and drop the partitions whose upper bound is at most ``older_than``; returns them.

    Append-only tables need ``allow_append_only=True`` (the explicit bypass): dropping a partition
    deletes history. Every dropped partition is logged.
    """
    older_than = aware(older_than, "older_than")
    append_only = bool(getattr(event_model, "pgh_append_only", False))
    if append_only and not allow_append_only:
        raise AppendOnlyError(
            f"{event_model._meta.label} is append-only; pass the explicit bypass "
            "(--bypass-append-only / allow_append_only=True) to drop its partitions."
        )
    using = _using(event_model, using)
    table = _table(event_model)
    dropped = []
    for partition in _require_partitioned(event_model, using):
        if partition.upper is None or partition.upper > older_than:
            continue
        # One transaction per partition keeps the lock on the parent short.
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute(f"ALTER TABLE {quote(table)} DETACH PARTITION {quote(partition.name)}")
            cursor.execute(f"DROP TABLE {quote(partition.name)}")
        logger.warning(
            "Dropped partition %s of %s (events before %s)%s.",
            partition.name,
            event_model._meta.label,
            partition.upper.isoformat(),
            " with the append-only bypass" if append_only else "",
        )
        dropped.append(partition.name)
    return dropped
