"""``Events.objects.changed(field)``: events that changed a tracked field.

An event changed a field when the object's previous event (same event table) holds another
value, compared as ``pgh_diff`` compares them (``to_jsonb`` of both): exactly the events whose
``pgh_diff`` has that key. Nothing is recorded at write time. The test runs inside each event
table's branch of the union, one probe of the ``(pgh_obj_id, pgh_id)`` index per event read, so a
page read newest first along the primary key stops as soon as it is full: a field changed in 1% of
the events costs about a hundred probes per row shown. A field that rarely changes makes the read
go far back; callers that must stay bounded limit the ``pgh_id`` range (the admin does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pghistory_core.meta import column, field
from pghistory_core.triggers import quote

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = ["ChangedFilter", "changed_columns"]


def changed_columns(
    event_model: type[Event], names: Sequence[str], *, keys_only: bool = False
) -> list[str]:
    """The quoted columns of ``event_model``'s tracked fields named (or with an attribute named)
    in ``names``; none for an event model without objects (its events have no diff).

    ``keys_only``: attribute names only, the keys of ``pgh_diff`` (``author_id``, not ``author``).
    """
    if not event_model.pgh_has_obj:
        return []
    tracked = event_model.pgh_tracked_model
    found = []
    for name in event_model.pgh_tracked_fields:
        tracked_field = field(tracked, name)
        if tracked_field.attname in names or (name in names and not keys_only):
            found.append(quote(column(event_model, name)))
    return found


class ChangedFilter:
    """Keeps events whose diff against the object's previous event has one of some fields."""

    def __init__(self, names: Sequence[str], *, keys_only: bool = False) -> None:
        if not names or not all(isinstance(name, str) and name for name in names):
            raise ValueError("changed() takes the names of tracked fields, e.g. changed('price').")
        self.names = tuple(dict.fromkeys(names))
        self.keys_only = keys_only

    def clauses(self, event_model: type[Event], alias: str) -> tuple[list[str], list[str]]:
        """The branch's clause (none: no event of the table can match), without params."""
        columns = changed_columns(event_model, self.names, keys_only=self.keys_only)
        if not columns:
            return [], []
        table = quote(event_model._meta.db_table)
        obj = quote(column(event_model, "pgh_obj"))
        tests = " OR ".join(
            f"to_jsonb(_pgh_p.{col}) IS DISTINCT FROM to_jsonb({alias}.{col})" for col in columns
        )
        # NULL without a predecessor (an object's first event has no diff): IS TRUE drops it.
        return [
            f"(SELECT {tests} FROM {table} AS _pgh_p WHERE _pgh_p.{obj} = {alias}.{obj} "
            f"AND _pgh_p.pgh_id < {alias}.pgh_id ORDER BY _pgh_p.pgh_id DESC LIMIT 1) IS TRUE"
        ], []
