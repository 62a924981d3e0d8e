"""How far one request searches for changes of a field (the ``field`` filter).

Whether an event changed a field is known by comparing it with the object's previous event
(``Events.objects.changed``), so the audit log reads events newest first and tests each until
the page is full: about a hundred events per row for a field changed in 1% of the events, but
the whole history for a field that never changes. One request therefore reads at most
``PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT`` events of the event tables that track the field (of the
chosen object, when there is one): the page and the export say where the search stopped, and the
next request continues from there (``before``).
"""

from __future__ import annotations

import csv
import datetime
import io
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from pghistory_admin import conf

__all__ = ["SearchLimit", "export_note", "search_limit"]


@dataclass
class SearchLimit:
    """The last event a bounded read may reach (in its direction), and how many it reads."""

    pgh_id: int
    #: Events read up to and including ``pgh_id``.
    events: int
    #: Whether the read goes from newer to older events.
    descending: bool
    scope: QuerySet[Any]

    @cached_property
    def created_at(self) -> datetime.datetime | None:
        """When the last event the read reached was written (one primary key lookup)."""
        return (
            self.scope.filter(pgh_id=self.pgh_id).values_list("pgh_created_at", flat=True).first()
        )


def search_limit(
    scope: QuerySet[Any], *, start: int | None, descending: bool, events: int | None = None
) -> SearchLimit | None:
    """The ``events``-th event of ``scope`` after ``start`` (exclusive) in the read's direction.

    ``scope`` holds the events the read tests (the event tables tracking the field). ``None`` when
    fewer remain: the read can go to the end of the history. ``events`` defaults to
    ``PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT`` (``None`` there: no limit). Only ``pgh_id`` is read,
    from the primary keys.
    """
    if events is None:
        events = conf.field_search_limit()
        if events is None:
            return None
    if start is not None:
        scope = scope.filter(pgh_id__lt=start) if descending else scope.filter(pgh_id__gt=start)
    ordered = scope.order_by("-pgh_id" if descending else "pgh_id")
    found = ordered.values_list("pgh_id", flat=True)[events - 1 : events]
    last = next(iter(found), None)
    if last is None:
        return None
    return SearchLimit(pgh_id=last, events=events, descending=descending, scope=scope)


def export_note(limit: SearchLimit, field: str) -> bytes:
    """The last line of an export that ``limit`` cut: what was searched, and how to go on.

    One CSV cell starting with ``#`` (as the line of a failed export does).
    """
    when = limit.created_at
    text = _(
        "# Searched %(events)s events for changes of %(field)s, back to %(when)s: older events "
        "were not searched. Export again with before=%(pgh_id)s added to the URL to go on."
    ) % {
        "events": limit.events,
        "field": field,
        "when": timezone.localtime(when).isoformat() if when else "?",
        "pgh_id": limit.pgh_id,
    }
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow([text])
    return line.getvalue().encode()
