"""The current row of a tracked object, in the form events store it (``pgh_data``).

Postgres builds it with ``jsonb_build_object`` as the aggregate stream does for ``pgh_data``,
so values compare equal to an event's whenever the field holds the same value (same number,
timestamp and JSON spelling), and a diff between "now" and an event shows real changes only.
The ORM writes the query, so fields inherited through multi-table inheritance are joined in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import F
from django.db.models.functions import JSONObject

from pghistory_core.sql_builders import chunked

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = ["current_data", "diff_data"]


def current_data(
    event_model: type[Event], pk: Any, using: str | None = None
) -> dict[str, Any] | None:
    """The tracked values of row ``pk`` as ``event_model`` records them; ``None`` if it is gone."""
    tracked = event_model.pgh_tracked_model
    opts = tracked._meta
    tracked_fields = set(event_model.pgh_tracked_fields)
    attnames = [f.attname for f in opts.concrete_fields if f.name in tracked_fields]
    chunks = chunked(attnames) or [[]]
    annotations = {
        f"_pgh_data_{index}": JSONObject(**{name: F(name) for name in chunk})
        for index, chunk in enumerate(chunks)
    }
    row = (
        tracked._base_manager.db_manager(using)
        .filter(pk=pk)
        .annotate(**annotations)
        .values(*annotations)
        .first()
    )
    if row is None:
        return None
    data: dict[str, Any] = {}
    for key in annotations:
        data.update(row[key] or {})
    return data


def diff_data(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """``{attname: [old, new]}`` over the keys both sides have, where the values differ."""
    return {key: [old[key], new[key]] for key in new if key in old and old[key] != new[key]}
