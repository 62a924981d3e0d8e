"""The audit log's table (django-tables2), over ``EventRow``s of one keyset page.

Only the time column sorts, and it sorts by ``pgh_id``: the one order every event table indexes
(ids come from one sequence, so they follow creation order across models).

django-tables2 defines the columns and renders the header; the body is rendered by
``table_body.render_body`` in one pass (its template loop cost more than everything else on the
page), with the same markup.
"""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pghistory_admin.rows import EventRow
from pghistory_admin.table_body import render_body

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

    def body_html(self) -> SafeString:
        """The rows of the page as ``<tr>`` elements (the ``<tbody>``'s content)."""
        # Per page, not per row.
        self._width = len(self.columns)
        self._open_changes = gettext("Open the changes of this event")
        return render_body(self, self.row_html_after)

    def row_html_after(self, record: EventRow) -> SafeString:
        """What follows a row: the hidden row its changes expand into (``pghistory_admin.js``)."""
        if not record.diff_url:
            return SafeString("")
        return format_html(
            '<tr class="pgh-diff-row" id="pgh-diff-{}" hidden>'
            '<td colspan="{}"><div class="pgh-row-diff-body" aria-live="polite"></div></td></tr>',
            record.pgh_id,
            getattr(self, "_width", None) or len(self.columns),
        )

    def render_object(self, value: str, record: EventRow) -> SafeString:
        if record.renamed_to is not None:
            note = gettext("renamed to #%(id)s") % {"id": record.renamed_to}
            value = format_html('{} <span class="pgh-deleted pgh-renamed">({})</span>', value, note)
        elif record.object_exists is False:
            value = format_html(
                '{} <span class="pgh-deleted">({})</span>', value, gettext("deleted")
            )
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
            if value:
                title = gettext("%(source)s — every change made in this request or command") % {
                    "source": value
                }
            else:
                title = gettext("Every change made in this request or command")
            return format_html(
                '<a href="{}" title="{}"><code class="pgh-source-value">{}</code></a>',
                record.context_url,
                title,
                value or gettext("context"),
            )
        if not value:
            return format_html("")
        return format_html('<code class="pgh-source-value" title="{}">{}</code>', value, value)

    def render_changes(self, value: list[str], record: EventRow) -> SafeString:
        # A button expanding the row's diff below it (loaded by htmx on the first click, toggled
        # by pghistory_admin.js) and a link to the same diff as a page, which works without
        # JavaScript. Built here rather than with a template per row: this cell is on every row.
        summary = record.values_note if record.shows_values else ", ".join(record.changed_fields)
        if not record.diff_url:
            return format_html('<span class="pgh-changes">{}</span>', summary)
        return format_html(
            '<span class="pgh-changes"><button type="button" id="pgh-expand-{id}" class="pgh-expand"'
            ' aria-expanded="false" aria-controls="pgh-diff-{id}" hx-get="{url}"'
            ' hx-trigger="click once" hx-target="#pgh-diff-{id} .pgh-row-diff-body">{summary}'
            '</button><a class="pgh-diff-link" href="{url}" title="{title}">#{id}</a></span>',
            id=record.pgh_id,
            url=record.diff_url,
            summary=summary,
            title=getattr(self, "_open_changes", None) or gettext("Open the changes of this event"),
        )
