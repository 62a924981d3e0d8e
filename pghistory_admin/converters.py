"""``<pgh_id:…>`` in the history pages' URLs: an event id, which Postgres keeps in a ``bigint``.

``pghistory_admin.urls`` registers ``EventIdConverter`` under that name, so an id out of the
column's range (0, or beyond 2**63 - 1) never reaches a view or a query.
"""

from __future__ import annotations

from django.http import Http404

from pghistory_admin.pagination import MAX_ID

__all__ = ["EventIdConverter"]


class EventIdConverter:
    """An event id (``pgh_id``): ASCII digits naming a number from 1 to ``MAX_ID``.

    Any other number is a 404 here, before the view runs. ``to_python`` raises ``Http404``
    rather than the ``ValueError`` Django reads as "this pattern does not match": the
    ``ModelAdmin``'s own catch-all pattern (``<path:object_id>/``) would then take the URL and
    redirect to a change page of an object named ``…/history/0/revert``.
    """

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        # The length bounds int(): no conversion of thousands of digits.
        if len(value) > len(str(MAX_ID)) or not 0 < int(value) <= MAX_ID:
            raise Http404("No such event.")
        return int(value)

    def to_url(self, value: int | str) -> str:
        return str(value)
