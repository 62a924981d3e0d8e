"""The audit log's table (django-tables2), over ``EventRow``s of one keyset page.

Only the time column sorts, and it sorts by ``pgh_id``: the one order every event table indexes
(ids come from one sequence, so they follow creation order across models).

django-tables2 defines the columns and renders the header; the body is built here in one pass,
a row at a time, with the markup django-tables2's template gives (its template loop cost more than
everything else on the page). A table whose columns or cells differ from these (a subclass, or
``exclude``/``extra_columns``) has its body rendered by ``table_body.render_body`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

import django_tables2 as tables
from django.utils import formats
from django.utils.safestring import SafeData, SafeString
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pghistory_admin.markup import DateTimeFormat, esc
from pghistory_admin.rows import EventRow
from pghistory_admin.table_body import render_body

__all__ = ["SORTS", "EventTable"]

#: Accepted ``sort`` values and whether they read newest first.
SORTS = {"-time": True, "time": False}

#: The columns whose cells ``EventTable.body_html`` builds itself, in their order.
COLUMNS = ("time", "model", "object", "action", "user", "source", "changes")


def _row_id(record: EventRow) -> int:
    return record.pgh_id


def _cell(content: Any) -> str:
    """What ``{{ cell }}`` shows of a cell's content (render methods return safe strings)."""
    if isinstance(content, SafeData):
        return str(content)
    return esc(formats.localize(template_localtime(content)))


def _column_cells(
    td: str,
    value_of: Callable[[EventRow], Any],
    render: Callable[[Any, EventRow], Any] | None,
    *,
    empty: tuple[Any, ...],
    default: str,
) -> Callable[[EventRow], str]:
    """The ``<td>`` of a column for a record: the column's ``render_<name>`` of its value, or
    its ``default`` when the value is one of the column's ``empty_values``."""
    empty_cell = f"{td}{default}</td>"

    def cell(record: EventRow) -> str:
        value = value_of(record)
        if value in empty:
            return empty_cell
        return f"{td}{_cell(value if render is None else render(value, record))}</td>"

    return cell


class _PageText:
    """What every row of a page shares: translations, the date format and the time zone."""

    def __init__(self) -> None:
        self.dates = DateTimeFormat()
        self.deleted = gettext("deleted")
        self.renamed_to = gettext("renamed to #%(id)s")
        self.open_changes = gettext("Open the changes of this event")
        self.source_title = gettext("%(source)s — every change made in this request or command")
        self.context_title = gettext("Every change made in this request or command")
        self.context = gettext("context")


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
        row_attrs = {"data-pgh-id": _row_id}
        empty_text = _("No events.")

    def _text(self) -> _PageText:
        """Translations and formats for this table's page (read once per request)."""
        text: _PageText | None = getattr(self, "_page_text", None)
        if text is None:
            text = self._page_text = _PageText()
        return text

    def render_time(self, value: Any, record: EventRow) -> SafeString:
        return SafeString(self._text().dates.time_html(value))

    def body_html(self) -> SafeString:
        """The rows of the page as ``<tr>`` elements (the ``<tbody>``'s content)."""
        self._width = len(self.columns)
        cells = self._cells()
        if cells is None:
            return render_body(self, self.row_html_after)
        parts: list[str] = []
        for row in self.paginated_rows:
            record = row.record
            pgh_id = record.pgh_id
            parity = row.get_even_odd_css_class()
            if pgh_id is None:
                parts.append(f'<tr class="{parity}">')
            else:
                parts.append(f'<tr data-pgh-id="{esc(pgh_id)}" class="{parity}">')
            parts.extend(cell(record) for cell in cells)
            parts.append("</tr>")
            parts.append(self.row_html_after(record))
        if not parts and self.empty_text:
            parts.append(f'<tr><td colspan="{self._width}">{esc(self.empty_text)}</td></tr>')
        return SafeString("\n".join(parts))

    def _cells(self) -> list[Callable[[EventRow], str]] | None:
        """A function per column giving its ``<td>`` of a record; ``None`` when this table's
        columns, cells or rows are not those this class defines (``render_body`` renders
        them)."""
        cls = type(self)
        columns = list(self.columns)
        if (
            tuple(column.name for column in columns) != COLUMNS
            or any(
                cls.base_columns.get(name) is not EventTable.base_columns[name]
                or getattr(cls, f"render_{name}", None)
                is not getattr(EventTable, f"render_{name}", None)
                for name in COLUMNS
            )
            or dict(self.row_attrs) != {"data-pgh-id": _row_id}
            or cls.row_html_after is not EventTable.row_html_after
        ):
            return None
        cells = []
        for bound_column in columns:
            column = bound_column.column
            attrs = {**self.attrs, **column.attrs}
            if any(callable(value) for value in attrs.get("td", attrs.get("cell", {})).values()):
                return None
            html = bound_column.attrs["td"].as_html()
            cells.append(
                _column_cells(
                    f"<td {html}>" if html else "<td>",
                    attrgetter(str(bound_column.accessor).replace("__", ".")),
                    getattr(self, f"render_{bound_column.name}", None),
                    empty=tuple(column.empty_values),
                    default=_cell(bound_column.default),
                )
            )
        return cells

    def row_html_after(self, record: EventRow) -> SafeString:
        """What follows a row: the hidden row its changes expand into (``pghistory_admin.js``)."""
        if not record.diff_url:
            return SafeString("")
        pgh_id = esc(record.pgh_id)
        width = getattr(self, "_width", None) or len(self.columns)
        return SafeString(
            f'<tr class="pgh-diff-row" id="pgh-diff-{pgh_id}" hidden>'
            f'<td colspan="{esc(width)}"><div class="pgh-row-diff-body" aria-live="polite"></div>'
            "</td></tr>"
        )

    def render_object(self, value: str, record: EventRow) -> SafeString:
        text = self._text()
        if record.renamed_to is not None:
            note = text.renamed_to % {"id": record.renamed_to}
            shown = f'{esc(value)} <span class="pgh-deleted pgh-renamed">({esc(note)})</span>'
        elif record.object_exists is False:
            shown = f'{esc(value)} <span class="pgh-deleted">({esc(text.deleted)})</span>'
        else:
            shown = esc(value)
        if record.object_url:
            return SafeString(f'<a href="{esc(record.object_url)}">{shown}</a>')
        return SafeString(shown)

    def render_action(self, value: str, record: EventRow) -> SafeString:
        label = esc(record.event.pgh_label)
        return SafeString(f'<span class="pgh-action pgh-action-{label}">{esc(value)}</span>')

    def render_user(self, value: str, record: EventRow) -> SafeString:
        if record.user_url:
            return SafeString(f'<a href="{esc(record.user_url)}">{esc(value)}</a>')
        if record.user_note:
            return SafeString(
                f'<span class="pgh-db-session" title="{esc(record.user_note)}">{esc(value)}</span>'
            )
        return SafeString(esc(value))

    def render_source(self, value: str, record: EventRow) -> SafeString:
        # A long URL is cut to the column's width by CSS; the title shows all of it on hover.
        text = self._text()
        if record.context_url:
            if value:
                title = text.source_title % {"source": value}
            else:
                title = text.context_title
            return SafeString(
                f'<a href="{esc(record.context_url)}" title="{esc(title)}">'
                f'<code class="pgh-source-value">{esc(value or text.context)}</code></a>'
            )
        if not value:
            return SafeString("")
        value = esc(value)
        return SafeString(f'<code class="pgh-source-value" title="{value}">{value}</code>')

    def render_changes(self, value: list[str], record: EventRow) -> SafeString:
        # A button expanding the row's diff below it (loaded by htmx on the first click, toggled
        # by pghistory_admin.js) and a link to the same diff as a page, which works without
        # JavaScript. Built here rather than with a template per row: this cell is on every row.
        summary = esc(
            record.values_note if record.shows_values else ", ".join(record.changed_fields)
        )
        if not record.diff_url:
            return SafeString(f'<span class="pgh-changes">{summary}</span>')
        pgh_id, url = esc(record.pgh_id), esc(record.diff_url)
        return SafeString(
            f'<span class="pgh-changes"><button type="button" id="pgh-expand-{pgh_id}"'
            f' class="pgh-expand" aria-expanded="false" aria-controls="pgh-diff-{pgh_id}"'
            f' hx-get="{url}" hx-trigger="click once" hx-target="#pgh-diff-{pgh_id}'
            f' .pgh-row-diff-body">{summary}</button><a class="pgh-diff-link" href="{url}"'
            f' title="{esc(self._text().open_changes)}">#{pgh_id}</a></span>'
        )
