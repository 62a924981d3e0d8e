"""Keyset pagination over ``pgh_id``: no ``OFFSET``, no ``COUNT``.

``pgh_id`` comes from one sequence shared by every event table, so it orders events across
models and every page is ``filter(pgh_id < cursor).order_by("-pgh_id")[:size + 1]``, which
Postgres answers from the primary key indexes. The extra row only says whether a next page exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

__all__ = [
    "Cursor",
    "InvalidCursor",
    "KeysetPage",
    "keyset_page",
    "page_size",
    "parse_cursor",
    "parse_id",
]

#: ``pgh_id`` is a Postgres ``bigint``.
MAX_ID = 2**63 - 1
#: The query parameters carrying the cursor.
BEFORE, AFTER = "before", "after"


class InvalidCursor(ValueError):
    """A cursor that is not a ``pgh_id``."""


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: strictly before or strictly after a ``pgh_id`` (or at an end)."""

    before: int | None = None
    after: int | None = None


def page_size() -> int:
    """``PGHISTORY_ADMIN_PAGE_SIZE``: events per page (default 50, at most 500)."""
    value = getattr(settings, "PGHISTORY_ADMIN_PAGE_SIZE", 50)
    return max(1, min(int(value), 500))


def parse_id(value: str | None) -> int | None:
    """A ``pgh_id`` from a query parameter (``None`` if empty); ``InvalidCursor`` if malformed."""
    if value is None or value == "":
        return None
    text = value.strip()
    # ASCII digits only: no sign, exponent or other script's digits; the length bounds int().
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or not 0 < int(text) <= MAX_ID:
        raise InvalidCursor(value)
    return int(text)


def parse_cursor(params: Mapping[str, Any]) -> Cursor:
    """The cursor in ``before``/``after`` query parameters; ``InvalidCursor`` if malformed."""
    before, after = parse_id(params.get(BEFORE)), parse_id(params.get(AFTER))
    if before is not None and after is not None:
        raise InvalidCursor("before and after")
    return Cursor(before=before, after=after)


@dataclass
class KeysetPage:
    """One page of rows, in display order, with the cursors of its neighbours."""

    rows: list[Any] = field(default_factory=list)
    descending: bool = True
    has_next: bool = False
    has_previous: bool = False

    def _edge(self, index: int) -> int | None:
        return self.rows[index].pgh_id if self.rows else None

    @property
    def next_params(self) -> dict[str, int | None]:
        """Query parameters of the next page (further in display order)."""
        last = self._edge(-1)
        if self.descending:
            return {BEFORE: last, AFTER: None}
        return {AFTER: last, BEFORE: None}

    @property
    def previous_params(self) -> dict[str, int | None]:
        """Query parameters of the previous page."""
        first = self._edge(0)
        if self.descending:
            return {AFTER: first, BEFORE: None}
        return {BEFORE: first, AFTER: None}


def keyset_page(
    queryset: QuerySet[Any], cursor: Cursor, *, size: int, descending: bool = True
) -> KeysetPage:
    """Fetch one page of ``queryset`` ordered by ``pgh_id`` (one query)."""
    # Going backwards (towards the start of the display order) reads in the opposite
    # direction, then flips the rows back.
    backwards = (cursor.after if descending else cursor.before) is not None
    if cursor.before is not None:
        queryset = queryset.filter(pgh_id__lt=cursor.before)
    if cursor.after is not None:
        queryset = queryset.filter(pgh_id__gt=cursor.after)
    read_descending = descending != backwards
    rows = list(queryset.order_by("-pgh_id" if read_descending else "pgh_id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
        return KeysetPage(rows=rows, descending=descending, has_next=True, has_previous=more)
    started = cursor.before is not None or cursor.after is not None
    return KeysetPage(rows=rows, descending=descending, has_next=more, has_previous=started)
