"""SQL text shared by the trigger, aggregate, hash-chain and export builders.

One definition of each: identifier and literal quoting, a ``jsonb`` object of any number of
pairs, and an event row's context id. It depends on nothing in the package but ``meta``, so
every builder can import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from pghistory_core.meta import column

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = ["JSONB_MAX_PAIRS", "chunked", "context_id_sql", "jsonb_object", "literal", "quote"]

T = TypeVar("T")

#: ``jsonb_build_object()`` takes at most 100 arguments: 50 key/value pairs per call.
JSONB_MAX_PAIRS = 50


def quote(identifier: str) -> str:
    """Quote an SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    """Quote an SQL string literal (standard_conforming_strings is on in supported Postgres)."""
    return "'" + value.replace("'", "''") + "'"


def chunked(items: Sequence[T], size: int = JSONB_MAX_PAIRS) -> list[Sequence[T]]:
    """``items`` in runs of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def jsonb_object(pairs: Sequence[str]) -> str:
    """A ``jsonb`` object of ``"key_sql, value_sql"`` pairs, ``'{}'::jsonb`` when there are none.

    Built with one ``jsonb_build_object()`` call per 50 pairs, joined with ``||``.
    """
    if not pairs:
        return "'{}'::jsonb"
    return " || ".join(f"jsonb_build_object({', '.join(chunk)})" for chunk in chunked(pairs))


def context_id_sql(event_model: type[Event], alias: str) -> str:
    """The context id of an event row of ``event_model`` aliased ``alias`` (``NULL`` without one)."""
    if event_model.pgh_context_kind == "fk":
        return f"{alias}.{quote(column(event_model, 'pgh_context'))}"
    if event_model.pgh_has_context_id:
        return f"{alias}.{quote(column(event_model, 'pgh_context_id'))}"
    return "NULL::uuid"
