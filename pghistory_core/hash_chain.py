"""Tamper evidence: an optional hash chain over each event table.

With ``track(..., hash_chain=True)`` every event stores ``pgh_hash``, the SHA-256 of its
predecessor's hash followed by a canonical text of its own columns. A row-level BEFORE INSERT
trigger on the event table computes it, so every way of writing an event (triggers,
``create_event``, a manual INSERT) is chained. Writers of one chained table take a
transaction-level advisory lock and draw ``pgh_id`` inside it, so the chain's order is the
``pgh_id`` order. The hash also covers the context metadata as it was when the event was written
(``pgh_context_snapshot``) and, on the first chained event, a seal of the events the table held
before the chain started (``pgh_chain_seal``). ``verify()`` (``manage.py pghistory_verify``)
recomputes the chain and reports the first broken link, unchained events the seal does not
account for, and contexts that lost or changed what their events recorded; comparing the head
with a copy kept elsewhere also catches a rewrite of the whole chain or removed newest events.
Only the table's owner can ask the trigger to step aside (``trigger_sql.OWNER_MAY_IGNORE``).

One concept over 300 lines: writing the chain (the trigger) and verifying it must agree on
the canonical text, so both live here.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pgtrigger
from django.db import connections, models, router
from pgtrigger import compiler

from pghistory_core.constants import CONTEXT_TABLE, EVENT_ID_SEQUENCE
from pghistory_core.meta import column
from pghistory_core.sql_builders import jsonb_object, literal, quote
from pghistory_core.trigger_sql import OwnerBypassTriggerSql

__all__ = ["ChainReport", "HashChainTrigger", "canonical_sql", "verify"]

HASH_FIELD = "pgh_hash"
#: The context metadata when the event was written (chained models with a ``Context`` row).
SNAPSHOT_FIELD = "pgh_context_snapshot"
#: On the first chained event: how many events the table held before, and the newest one's id.
SEAL_FIELD = "pgh_chain_seal"
TRIGGER_NAME = "hash_chain"
# First key of the advisory lock (the second is the table's oid): the namespace of our locks.
_LOCK_NAMESPACE = zlib.crc32(b"pghistory_core.hash_chain") & 0x7FFFFFFF


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
        pairs.append(f"{literal(column)}, {_value_sql(field, f'{row}.{quote(column)}')}")
    return "jsonb_strip_nulls(" + jsonb_object(pairs) + ")::text"


def _hash_sql(previous: str, content: str) -> str:
    return f"encode(sha256(convert_to(COALESCE({previous}, '') || {content}, 'UTF8')), 'hex')"


class HashChainTrigger(pgtrigger.Trigger):
    """BEFORE INSERT on an event table: draw ``pgh_id`` under the chain's lock and hash.

    It also fills what the hash must cover beyond the inserted columns: the context metadata as
    it is when the event is written (``pgh_context_snapshot``) and, on the first chained event,
    a seal of the events the table held before the chain started (``pgh_chain_seal``).
    """

    when = pgtrigger.Before
    operation = pgtrigger.Insert
    level = pgtrigger.Row
    declare = [("_pgh_previous", "TEXT")]

    def __init__(self, context_column: str | None = None) -> None:
        # Decided here, not from the model: migrations compile the trigger on a historical
        # model, which has the fields but not the event model's class attributes.
        self.context_column = context_column
        super().__init__(name=TRIGGER_NAME)

    def get_func(self, model: Any) -> str:
        table = quote(model._meta.db_table)
        table_literal = literal(table)
        lines = [
            # Held until commit: chained writers of this table run one after the other, so
            # ids drawn here follow commit order and each event sees its committed predecessor.
            f"PERFORM pg_advisory_xact_lock({_LOCK_NAMESPACE}, {table_literal}::regclass::oid::int);",
            f"NEW.pgh_id := nextval('{EVENT_ID_SEQUENCE}');",
            f"NEW.{SEAL_FIELD} := NULL;",
            f'SELECT "{HASH_FIELD}" INTO _pgh_previous FROM {table} ORDER BY pgh_id DESC LIMIT 1;',
            # The first chained event: the scan runs once per table.
            f"IF _pgh_previous IS NULL AND NOT EXISTS (SELECT FROM {table} "
            f'WHERE "{HASH_FIELD}" IS NOT NULL) THEN',
            f"  NEW.{SEAL_FIELD} := (SELECT jsonb_build_object('events', count(*), "
            f"'last_pgh_id', max(pgh_id)) FROM {table});",
            "END IF;",
        ]
        if self.context_column:
            lines.append(
                f"NEW.{SNAPSHOT_FIELD} := (SELECT metadata FROM {CONTEXT_TABLE} "
                f'WHERE id = NEW."{self.context_column}");'
            )
        lines.append(
            f"NEW.{HASH_FIELD} := {_hash_sql('_pgh_previous', canonical_sql(model, 'NEW'))};"
        )
        lines.append("RETURN NEW;")
        return "\n".join(lines)

    def compile(self, model: Any) -> compiler.Trigger:
        compiled = super().compile(model)
        return compiler.Trigger(
            name=compiled.name, sql=OwnerBypassTriggerSql(**compiled.sql.kwargs)
        )


def has_snapshot(event_model: Any) -> bool:
    """Whether the chain of ``event_model`` covers a snapshot of each event's ``Context`` row."""
    return bool(getattr(event_model, "pgh_hash_chain", False)) and (
        getattr(event_model, "pgh_context_kind", None) == "fk"
    )


@dataclass(frozen=True)
class ChainReport:
    """The result of verifying one event table's chain, and what was checked."""

    model: str
    events: int
    unchained: int
    broken_at: int | None
    head: tuple[int, str] | None
    expected_head_found: bool | None = None
    #: The oldest chained event. Its own link is checked only when it carries the seal (the
    #: first event of the chain had no predecessor); otherwise its predecessor may be pruned.
    anchor: int | None = None
    #: The seal the anchor recorded: ``{"events": n, "last_pgh_id": id}`` held before the chain.
    seal: dict[str, Any] | None = None
    #: The newest unchained event before the anchor.
    last_unchained: int | None = None
    #: Events whose context snapshot was compared with their ``Context`` row (``None``: no
    #: snapshots on this model).
    attribution_checked: int | None = None
    #: The first event whose context lost or changed a key it had when the event was written.
    attribution_changed_at: int | None = None
    #: Events whose context gained keys since (nested contexts do that; not a failure).
    attribution_grown: int = 0

    @property
    def unexpected_unchained(self) -> str | None:
        """Why the unchained events before the anchor cannot all be from before the chain."""
        if not self.unchained or self.anchor is None:
            return None
        if self.seal is None:
            return (
                f"{self.unchained} unchained events before the first chained event "
                f"(pgh_id {self.anchor}), which recorded no seal: they cannot be verified"
            )
        sealed = int(self.seal.get("events") or 0)
        last = self.seal.get("last_pgh_id")
        if self.unchained > sealed or last is None or (self.last_unchained or 0) > int(last):
            return (
                f"{self.unchained} unchained events before the first chained event "
                f"(pgh_id {self.anchor}, newest {self.last_unchained}), but the chain started "
                f"after {sealed} (up to pgh_id {last}): events were added outside the chain"
            )
        return None

    @property
    def ok(self) -> bool:
        return (
            self.broken_at is None
            and self.expected_head_found is not False
            and self.attribution_changed_at is None
            and self.unexpected_unchained is None
        )

    def _chain_text(self) -> str:
        if self.anchor is None:
            return "NOT VERIFIED: no event is chained yet"
        text = f"chain from pgh_id {self.anchor}"
        if self.broken_at is not None:
            return f"{text} BROKEN at pgh_id {self.broken_at}"
        return f"{text} intact"

    def _unchained_text(self) -> str | None:
        problem = self.unexpected_unchained
        if problem is not None:
            return f"FORGED OR UNVERIFIABLE: {problem}"
        if self.anchor is None:
            return f"{self.unchained} unchained events" if self.unchained else None
        sealed = int((self.seal or {}).get("events") or 0)
        if not sealed and not self.unchained:
            return None
        text = (
            f"{self.unchained} events from before the chain started (sealed at its start: {sealed})"
        )
        if self.unchained < sealed:
            text += f", {sealed - self.unchained} of them pruned"
        return text

    def _attribution_text(self) -> str | None:
        if self.attribution_checked is None:
            return None
        if self.attribution_changed_at is not None:
            return (
                f"ATTRIBUTION CHANGED: the context of pgh_id {self.attribution_changed_at} no "
                "longer holds the metadata recorded with it"
            )
        if not self.attribution_checked:
            return "no event has a context to check"
        text = f"context metadata of {self.attribution_checked} events as recorded"
        if self.attribution_grown:
            text += f" ({self.attribution_grown} of their contexts gained keys since)"
        return text

    def __str__(self) -> str:
        parts = [f"{self.model}: {self.events} events", self._chain_text()]
        parts += [p for p in (self._unchained_text(), self._attribution_text()) if p]
        if self.expected_head_found is False:
            parts.append("the expected head is missing or differs")
        elif self.expected_head_found:
            parts.append("expected head found")
        parts.append(f"head {self.head[0]}:{self.head[1]}" if self.head else "no head")
        return ", ".join(parts)


def _attribution(
    cursor: Any, event_model: type[models.Model], table: str
) -> tuple[int | None, int | None, int]:
    """(events checked, first event whose context changed, events whose context grew)."""
    if not has_snapshot(event_model):
        return None, None, 0
    context = column(event_model, "pgh_context")
    snapshot = f"t.{SNAPSHOT_FIELD}"
    # Every key the event recorded must still be in its context with the same value.
    kept = (
        f"(SELECT COALESCE(bool_and(c.metadata -> s.key = s.value), true) FROM jsonb_each("
        f"CASE WHEN jsonb_typeof({snapshot}) = 'object' THEN {snapshot} ELSE '{{}}' END) AS s)"
    )
    cursor.execute(
        f"""
        SELECT count(*),
               min(t.pgh_id) FILTER (WHERE c.id IS NULL OR NOT (
                   jsonb_typeof(c.metadata) = 'object' AND jsonb_typeof({snapshot}) = 'object'
                   AND {kept})),
               count(*) FILTER (WHERE c.metadata <> {snapshot})
        FROM {table} AS t LEFT JOIN {CONTEXT_TABLE} AS c ON c.id = t."{context}"
        WHERE {snapshot} IS NOT NULL
        """
    )
    checked, changed_at, grown = cursor.fetchone()
    return checked, changed_at, grown


def verify(
    event_model: type[models.Model],
    using: str | None = None,
    expected_head: tuple[int, str] | None = None,
) -> ChainReport:
    """Recompute the chain of ``event_model`` in one scan and report the first broken link.

    The oldest chained event is the anchor (its predecessor may have been pruned), every later
    event must hash its predecessor's stored hash and its own columns. Unchained events before
    the anchor must be accounted for by the seal the anchor recorded. Each event's context must
    still hold the metadata recorded with it. ``expected_head`` is a ``(pgh_id, hash)`` recorded
    earlier; it must still be in the chain.
    """
    if not getattr(event_model, "pgh_hash_chain", False):
        raise ValueError(f"{event_model._meta.label} has no hash chain (track(hash_chain=True)).")
    using = using or router.db_for_read(event_model)
    table = quote(event_model._meta.db_table)
    expected = _hash_sql("lag(t.pgh_hash) OVER w", canonical_sql(event_model, "t"))
    sql = f"""
        WITH checked AS (
            SELECT t.pgh_id, t.pgh_hash, {expected} AS expected,
                   count(t.pgh_hash) OVER w AS position, t.{SEAL_FIELD} IS NOT NULL AS sealed
            FROM {table} AS t
            WINDOW w AS (ORDER BY t.pgh_id)
        )
        SELECT
            count(*),
            count(*) FILTER (WHERE position = 0),
            max(pgh_id) FILTER (WHERE position = 0),
            -- Every chained event must match, but an anchor (the oldest hashed one) whose
            -- predecessor may have been pruned; the first event of the chain, which carries the
            -- seal, had none and is checked too.
            min(pgh_id) FILTER (
                WHERE position >= 1 AND NOT (position = 1 AND pgh_hash IS NOT NULL AND NOT sealed)
                AND pgh_hash IS DISTINCT FROM expected
            ),
            (SELECT array[pgh_id::text, pgh_hash] FROM {table}
             WHERE pgh_hash IS NOT NULL ORDER BY pgh_id DESC LIMIT 1),
            (SELECT array[pgh_id::text, {SEAL_FIELD}::text] FROM {table}
             WHERE pgh_hash IS NOT NULL ORDER BY pgh_id LIMIT 1)
        FROM checked
    """
    with connections[using].cursor() as cursor:
        cursor.execute(sql)
        events, unchained, last_unchained, broken_at, head, anchor = cursor.fetchone()
        checked, changed_at, grown = _attribution(cursor, event_model, table)
        found = None
        if expected_head is not None:
            cursor.execute(
                f"SELECT pgh_hash = %s FROM {table} WHERE pgh_id = %s",
                [expected_head[1], expected_head[0]],
            )
            row = cursor.fetchone()
            found = bool(row and row[0])
    seal = json.loads(anchor[1]) if anchor and anchor[1] else None
    return ChainReport(
        model=event_model._meta.label,
        events=events,
        unchained=unchained,
        broken_at=broken_at,
        head=(int(head[0]), head[1]) if head else None,
        expected_head_found=found,
        anchor=int(anchor[0]) if anchor else None,
        seal=seal if isinstance(seal, dict) else None,
        last_unchained=last_unchained,
        attribution_checked=checked,
        attribution_changed_at=changed_at,
        attribution_grown=grown,
    )


def chained_models(models_: Iterable[type[models.Model]]) -> list[type[models.Model]]:
    """The event models among ``models_`` that keep a hash chain."""
    return [m for m in models_ if getattr(m, "pgh_hash_chain", False)]
