"""``{% load pghistory_admin %}``: the per-event fragments of ``pghistory_admin.fragments``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django import template
from django.utils.safestring import SafeString

from pghistory_admin import fragments

if TYPE_CHECKING:
    from django.forms import BoundField

    from pghistory_admin.diffs import FieldChange
    from pghistory_admin.rows import EventRow

register = template.Library()


@register.simple_tag
def event_head(row: EventRow) -> SafeString:
    """When, what, by whom and from where an event was recorded."""
    return fragments.event_head(row)


@register.simple_tag
def key_change(row: EventRow) -> SafeString:
    """ "Renamed from #…" with a link to the history under the old key, if the key changed."""
    return fragments.key_change(row)


@register.simple_tag
def diff_table(changes: Sequence[FieldChange] | None) -> SafeString:
    """The table of field changes (or "No tracked field changed.")."""
    return fragments.diff_table(changes)


@register.simple_tag(takes_context=True)
def timeline_entries(context: dict[str, Any], rows: Sequence[EventRow]) -> SafeString:
    """Each event of a timeline page; ``compare_url`` and ``object_exists`` from the context."""
    return fragments.timeline_entries(
        rows,
        compare_url=context.get("compare_url"),
        object_exists=bool(context.get("object_exists")),
    )


@register.simple_tag
def filter_field(field: BoundField, oob: bool = False) -> SafeString:
    """One field of the audit log's filter form (``oob``: swapped out of band by htmx)."""
    return fragments.filter_field(field, oob=bool(oob))
