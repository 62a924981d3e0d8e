"""Tamper evidence: an optional hash chain over each event table.

With ``track(..., hash_chain=True)`` every event stores ``pgh_hash``, the SHA-256 of its
predecessor's hash followed by a canonical text of its own columns. A row-level BEFORE INSERT
trigger on the event table computes it, so every way of writing an event (triggers,
``create_event``, a manual INSERT) is chained. Writers of one chained table take a
transaction-level advisory lock and draw ``pgh_id`` inside it, so the chain's order is the
``pgh_id`` order. ``verify()`` (``manage.py pghistory_verify``) recomputes the chain and reports
the first broken link; comparing the head with a copy kept elsewhere also catches a rewrite of
the whole chain or removed newest events.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pgtrigger
from django.db import connections, models, router
from pgtrigger import compiler

from pghistory_core.config import EVENT_ID_SEQUENCE
from pghistory_core.trigger_sql import HashChainTriggerSql

__all__ = ["ChainReport", "HashChainTrigger", "canonical_sql", "verify"]

HASH_FIELD = "pgh_hash"
TRIGGER_NAME = "hash_chain"
# First key of the advisory lock (the second is the table's oid): the namespace of our locks.
_LOCK_NAMESPACE = zlib.crc32(b"pghistory_core.hash_chain") & 0x7FFFFFFF
# jsonb_build_object() takes at most 100 arguments: 50 columns per call.
_PAIRS_PER_CALL = 50


def _value_sql(field: models.Field[Any, Any], ref: str) -> str:
    """Text of a column that does not depend on session settings (TimeZone, DateStyle, ...)."""
    kind = field.get_internal_type()
    if kind in ("DateTimeField", "DurationField"):
        return f"extract(epoch FROM {ref})::numeric::text"
    if kind == "DateField":
        return f"to_char({ref}, 'YYYY-MM-DD')"
    if kind == "FloatField":
        return f"encode(float8send({ref}::float8), 'hex')"
    if kind == "BinaryField":
        return f"encode({ref}, 'hex')"
    return f"{ref}::text"


def canonical_sql(event_model: type[models.Model], row: str) -> str:
    """SQL text of an event's columns, ``row`` being ``NEW`` or a table alias.

    A JSON object of the non-null columns (keys sorted by jsonb), so adding a nullable field
    later leaves the content of older events, and so their hashes, unchanged.
    """
    pairs = []
    for field in sorted(event_model._meta.concrete_fields, key=lambda f: str(f.column)):
        if field.name == HASH_FIELD:
            continue
        column = str(field.column)
        ref = f'{row}."{column}"'
        pairs.append(f"'{column}', {_value_sql(field, ref)}")
    calls = [
        "jsonb_build_object(" + ", ".join(pairs[i : i + _PAIRS_PER_CALL]) + ")"
        for i in range(0, len(pairs), _PAIRS_PER_CALL)
    ]
    return "jsonb_strip_nulls(" + " || ".join(calls) + ")::text"


def _hash_sql(previous: str, content: str) -> str:
    return f"encode(sha256(convert_to(COALESCE({previous}, '') || {content}, 'UTF8')), 'hex')"


class HashChainTrigger(pgtrigger.Trigger):
    """BEFORE INSERT on an event table: draw ``pgh_id`` under the chain's lock and hash."""

    when = pgtrigger.Before
    operation = pgtrigger.Insert
    level = pgtrigger.Row
    declare = [("_pgh_previous", "TEXT")]

    def __init__(self) -> None:
        super().__init__(name=TRIGGER_NAME)

    def get_func(self, model: Any) -> str:
        table = model._meta.db_table.replace('"', '""')
        table_literal = "'\"" + table.replace("'", "''") + "\"'"
        return "\n".join(
            [
                # Held until commit: chained writers of this table run one after the other, so
                # ids drawn here follow commit order and each event sees its committed predecessor.
                f"PERFORM pg_advisory_xact_lock({_LOCK_NAMESPACE}, {table_literal}::regclass::oid::int);",
                f"NEW.pgh_id := nextval('{EVENT_ID_SEQUENCE}');",
                f'SELECT "{HASH_FIELD}" INTO _pgh_previous FROM "{table}" ORDER BY pgh_id DESC LIMIT 1;',
                f"NEW.{HASH_FIELD} := {_hash_sql('_pgh_previous', canonical_sql(model, 'NEW'))};",
                "RETURN NEW;",
            ]
        )

    def compile(self, model: Any) -> compiler.Trigger:
        compiled = super().compile(model)
        return compiler.Trigger(name=compiled.name, sql=HashChainTriggerSql(**compiled.sql.kwargs))


@dataclass(frozen=True)
class ChainReport:
    """The result of verifying one event table's chain."""

    model: str
    events: int
    unchained: int
    broken_at: int | None
    head: tuple[int, str] | None
    expected_head_found: bool | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None and self.expected_head_found is not False

    def __str__(self) -> str:
        head = f"head {self.head[0]}:{self.head[1]}" if self.head else "no chained events"
        parts = [f"{self.model}: {self.events} events"]
        if self.unchained:
            parts.append(f"{self.unchained} from before the chain started")
        if self.broken_at is not None:
            parts.append(f"BROKEN at pgh_id {self.broken_at}")
        else:
            parts.append("chain intact")
        if self.expected_head_found is False:
            parts.append("the expected head is missing or differs")
        parts.append(head)
        return ", ".join(parts)


def verify(
    event_model: type[models.Model],
    using: str | None = None,
    expected_head: tuple[int, str] | None = None,
) -> ChainReport:
    """Recompute the chain of ``event_model`` in one scan and report the first broken link.

    The oldest chained event is the anchor (its predecessor may have been pruned), every later
    event must hash its predecessor's stored hash and its own columns. ``expected_head`` is a
    ``(pgh_id, hash)`` recorded earlier; it must still be in the chain.
    """
    if not getattr(event_model, "pgh_hash_chain", False):
        raise ValueError(f"{event_model._meta.label} has no hash chain (track(hash_chain=True)).")
    using = using or router.db_for_read(event_model)
    table = '"' + event_model._meta.db_table.replace('"', '""') + '"'
    expected = _hash_sql("lag(t.pgh_hash) OVER w", canonical_sql(event_model, "t"))
    sql = f"""
        WITH checked AS (
            SELECT t.pgh_id, t.pgh_hash, {expected} AS expected,
                   count(t.pgh_hash) OVER w AS position
            FROM {table} AS t
            WINDOW w AS (ORDER BY t.pgh_id)
        )
        SELECT
            count(*),
            count(*) FILTER (WHERE position = 0),
            -- Every chained event but the anchor (the oldest hashed one) must match.
            min(pgh_id) FILTER (
                WHERE position >= 1 AND NOT (position = 1 AND pgh_hash IS NOT NULL)
                AND pgh_hash IS DISTINCT FROM expected
            ),
            (SELECT array[pgh_id::text, pgh_hash] FROM {table}
             WHERE pgh_hash IS NOT NULL ORDER BY pgh_id DESC LIMIT 1)
        FROM checked
    """
    with connections[using].cursor() as cursor:
        cursor.execute(sql)
        events, unchained, broken_at, head = cursor.fetchone()
        found = None
        if expected_head is not None:
            cursor.execute(
                f"SELECT pgh_hash = %s FROM {table} WHERE pgh_id = %s",
                [expected_head[1], expected_head[0]],
            )
            row = cursor.fetchone()
            found = bool(row and row[0])
    return ChainReport(
        model=event_model._meta.label,
        events=events,
        unchained=unchained,
        broken_at=broken_at,
        head=(int(head[0]), head[1]) if head else None,
        expected_head_found=found,
    )


def chained_models(models_: Iterable[type[models.Model]]) -> list[type[models.Model]]:
    """The event models among ``models_`` that keep a hash chain."""
    return [m for m in models_ if getattr(m, "pgh_hash_chain", False)]
