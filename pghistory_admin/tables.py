"""The audit log's table (django-tables2), over ``EventRow``s of one keyset page.

Only the time column sorts, and it sorts by ``pgh_id``: the one order every event table indexes
(ids come from one sequence, so they follow creation order across models).
"""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from pghistory_admin.rows import EventRow

__all__ = ["SORTS", "EventTable"]

#: Accepted ``sort`` values and whether they read newest first.
SORTS = {"-time": True, "time": False}


class EventTable(tables.Table):
    """Time, model, object, action, user, source and changed fields of each event."""

    time = tables.Column(
        accessor="event__pgh_created_at",
        verbose_name=_("Time"),
        order_by=("pgh_id",),
        attrs={"td": {"class": "pgh-col-time"}},
    )
    model = tables.Column(accessor="model_label", verbose_name=_("Model"), orderable=False)
    object = tables.Column(accessor="object_label", verbose_name=_("Object"), orderable=False)
    action = tables.Column(accessor="action", verbose_name=_("Action"), orderable=False)
    user = tables.Column(accessor="user_label", verbose_name=_("User"), orderable=False, default="")
    source = tables.Column(
        accessor="source", verbose_name=_("URL or command"), orderable=False, default=""
    )
    changes = tables.Column(
        accessor="changed_fields", verbose_name=_("Changes"), orderable=False, empty_values=()
    )

    class Meta:
        template_name = "pghistory_admin/table.html"
        attrs = {"class": "pgh-table", "id": "pgh-table"}
        row_attrs = {"data-pgh-id": lambda record: record.pgh_id}
        empty_text = _("No events.")

    def render_time(self, value: Any, record: EventRow) -> SafeString:
        local = timezone.localtime(value)
        return format_html(
            '<time datetime="{}">{}</time>',
            local.isoformat(),
            formats.date_format(local, "DATETIME_FORMAT"),
        )

    def render_object(self, value: str, record: EventRow) -> SafeString:
        if record.renamed_to is not None:
            note = _("renamed to #%(id)s") % {"id": record.renamed_to}
            value = format_html('{} <span class="pgh-deleted pgh-renamed">({})</span>', value, note)
        elif record.object_exists is False:
            value = format_html('{} <span class="pgh-deleted">({})</span>', value, _("deleted"))
        if record.object_url:
            return format_html('<a href="{}">{}</a>', record.object_url, value)
        return format_html("{}", value)

    def render_action(self, value: str, record: EventRow) -> SafeString:
        return format_html(
            '<span class="pgh-action pgh-action-{}">{}</span>', record.event.pgh_label, value
        )

    def render_user(self, value: str, record: EventRow) -> SafeString:
        if record.user_url:
            return format_html('<a href="{}">{}</a>', record.user_url, value)
        if record.user_note:
            return format_html(
                '<span class="pgh-db-session" title="{}">{}</span>', record.user_note, value
            )
        return format_html("{}", value)

    def render_source(self, value: str, record: EventRow) -> SafeString:
        # A long URL is cut to the column's width by CSS; the title shows all of it on hover.
        if record.context_url:
            title = _("%(source)s — every change made in this request or command") % {
                "source": value
            }
            return format_html(
                '<a href="{}" title="{}"><code class="pgh-source-value">{}</code></a>',
                record.context_url,
                title if value else _("Every change made in this request or command"),
                value or _("context"),
            )
        if not value:
            return format_html("")
        return format_html('<code class="pgh-source-value" title="{}">{}</code>', value, value)

    def render_changes(self, value: list[str], record: EventRow) -> SafeString:
        return SafeString(render_to_string("pghistory_admin/_row_changes.html", {"row": record}))
