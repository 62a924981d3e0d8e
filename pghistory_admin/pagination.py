"""Keyset pagination over ``pgh_id``: no ``OFFSET``, no ``COUNT``.

``pgh_id`` comes from one sequence shared by every event table, so it orders events across
models and every page is ``filter(pgh_id < cursor).order_by("-pgh_id")[:size + 1]``, which
Postgres answers from the primary key indexes. The extra row only says whether a next page exists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

if TYPE_CHECKING:
    from pghistory_admin.search_limit import SearchLimit

__all__ = [
    "Cursor",
    "InvalidCursor",
    "KeysetPage",
    "keyset_page",
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
    #: Where the read stopped before filling the page (``SearchLimit``): the events beyond it in
    #: the read's direction were not searched.
    limit: SearchLimit | None = None
    #: Whether the read went towards the start of the display order (a previous page).
    backwards: bool = False
    #: Where the page started (an empty page's neighbours start there).
    cursor: Cursor = field(default_factory=Cursor)

    def _edge(self, index: int) -> int | None:
        if self.rows:
            return int(self.rows[index].pgh_id)
        # No rows (a search that stopped at its limit): the neighbour on the cursor's side
        # starts at the cursor (``before=B`` read ``< B``, so ``after=B-1`` reads ``>= B``).
        newer_side = index == (0 if self.descending else -1)
        if self.cursor.before is not None and newer_side:
            return self.cursor.before - 1
        if self.cursor.after is not None and not newer_side:
            return self.cursor.after + 1
        return None

    @property
    def limit_params(self) -> dict[str, int | None]:
        """Query parameters continuing the read past ``limit``."""
        if self.limit is None:
            return {}
        if self.limit.descending:
            return {BEFORE: self.limit.pgh_id, AFTER: None}
        return {AFTER: self.limit.pgh_id, BEFORE: None}

    @property
    def next_params(self) -> dict[str, int | None]:
        """Query parameters of the next page (further in display order)."""
        if self.limit is not None and not self.backwards:
            return self.limit_params
        last = self._edge(-1)
        if self.descending:
            return {BEFORE: last, AFTER: None}
        return {AFTER: last, BEFORE: None}

    @property
    def previous_params(self) -> dict[str, int | None]:
        """Query parameters of the previous page."""
        if self.limit is not None and self.backwards:
            return self.limit_params
        first = self._edge(0)
        if self.descending:
            return {AFTER: first, BEFORE: None}
        return {BEFORE: first, AFTER: None}


#: ``limit(start, descending)``: where a read starting after ``start`` must stop, if anywhere.
Limiter = Callable[[int | None, bool], "SearchLimit | None"]


def keyset_page(
    queryset: QuerySet[Any],
    cursor: Cursor,
    *,
    size: int,
    descending: bool = True,
    limit: Limiter | None = None,
) -> KeysetPage:
    """Fetch one page of ``queryset`` ordered by ``pgh_id`` (one query, and one for ``limit``).

    With ``limit``, the read stops at the event it names (see ``search_limit``); a page it cut
    short carries it, and its next (or previous) page continues past it.
    """
    # Going backwards (towards the start of the display order) reads in the opposite
    # direction, then flips the rows back.
    backwards = (cursor.after if descending else cursor.before) is not None
    read_descending = descending != backwards
    stop = None
    if limit is not None:
        stop = limit(cursor.before if read_descending else cursor.after, read_descending)
    if cursor.before is not None:
        queryset = queryset.filter(pgh_id__lt=cursor.before)
    if cursor.after is not None:
        queryset = queryset.filter(pgh_id__gt=cursor.after)
    if stop is not None:
        bound = "pgh_id__gte" if read_descending else "pgh_id__lte"
        queryset = queryset.filter(**{bound: stop.pgh_id})
    rows = list(queryset.order_by("-pgh_id" if read_descending else "pgh_id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    # Cut short by the limit: the events past it were not read.
    cut = None if more else stop
    if backwards:
        rows.reverse()
        return KeysetPage(
            rows=rows,
            descending=descending,
            has_next=True,
            has_previous=more or cut is not None,
            limit=cut,
            backwards=True,
            cursor=cursor,
        )
    started = cursor.before is not None or cursor.after is not None
    return KeysetPage(
        rows=rows,
        descending=descending,
        has_next=more or cut is not None,
        has_previous=started,
        limit=cut,
        cursor=cursor,
    )
