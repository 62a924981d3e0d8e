"""The body of a django-tables2 table rendered in one pass, with the markup of its template.

django-tables2's template renders each cell through ``BoundRow.get_cell`` (which inspects the
render method's signature on every call) and recomputes the column's attributes for every
``<td>``: for a page of 50 rows that cost several times the page's SQL. Here each column is
prepared once (its ``<td>`` attributes, its render method's arguments) and the rows are joined
as strings.

What a cell shows follows django-tables2: the value at the column's accessor (``default`` when it
is one of the column's ``empty_values``), passed to ``render_<name>`` or the column's ``render``
with the arguments it names, then the column's ``linkify``, ``localize`` and escaping. Not
supported: choice fields' ``get_FOO_display()`` on model records (the audit log's records are
``EventRow``s) and pinned rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.templatetags.l10n import localize as localize_filter
from django.templatetags.l10n import unlocalize
from django.utils import formats
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]
from django_tables2 import A, Table
from django_tables2.rows import BoundRow
from django_tables2.utils import AttributeDict, computed_values, signature

__all__ = ["render_body"]

#: What follows a row's ``<tr>`` (e.g. a hidden row to expand into), given the row's record.
After = Callable[[Any], SafeString]


def _caller(fn: Callable[..., Any]) -> Callable[[dict[str, Any]], Any]:
    """``call_with_appropriate`` of django-tables2 with ``fn``'s signature read once."""
    arguments, all_arguments = signature(fn)

    def call(kwargs: dict[str, Any]) -> Any:
        if all_arguments:
            return fn(**kwargs)
        if not all(name in kwargs for name in arguments):
            return None
        return fn(**{name: kwargs[name] for name in arguments})

    return call


class _RowAttrs:
    """The attributes of each ``<tr>``: ``row_attrs`` computed for the record, and even/odd."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.attrs: dict[str, Any] = dict(table.row_attrs or {})
        self.callers = {key: _caller(v) for key, v in self.attrs.items() if callable(v)}

    def html(self, row: BoundRow) -> SafeString:
        kwargs = {"table": self.table, "record": row.record}
        values = {}
        for key, value in self.attrs.items():
            if key in self.callers:
                value = self.callers[key](kwargs)
            if isinstance(value, dict):
                value = computed_values(value, kwargs=kwargs)
            values[key] = value
        parity = row.get_even_odd_css_class()
        values["class"] = f"{values['class']} {parity}" if values.get("class") else parity
        return AttributeDict(values).as_html()


class _Cells:
    """One bound column, prepared once for every row of the page."""

    def __init__(self, table: Table, bound_column: Any) -> None:
        self.table = table
        self.bound_column = bound_column
        self.column = bound_column.column
        self.accessor = A(bound_column.accessor)
        self.default = bound_column.default
        self.render = _caller(bound_column.render)
        # ``<td>`` attributes that are values (not callables of the record) are the same on
        # every row: rendered once.
        attrs = {**table.attrs, **self.column.attrs}
        td = attrs.get("td", attrs.get("cell", {}))
        self.static_td = None if any(callable(v) for v in td.values()) else self._td_attrs()

    def _td_attrs(self) -> str:
        html = self.bound_column.attrs["td"].as_html()
        return f"<td {html}>" if html else "<td>"

    def html(self, row: BoundRow) -> str:
        """The cell of ``row`` as ``<td …>…</td>``."""
        content = self._content(row)
        if self.column.localize is True:
            content = localize_filter(content)
        elif self.column.localize is False:
            content = unlocalize(content)
        # What ``{{ cell }}`` does in the template (safe strings, what render methods return,
        # are left as they are).
        if not isinstance(content, SafeData):
            content = conditional_escape(formats.localize(template_localtime(content)))
        if self.static_td is not None:
            return f"{self.static_td}{content}</td>"
        # Attributes computed from the record and value: django-tables2 reads them from here.
        self.bound_column.current_value = content
        self.bound_column.current_record = row.record
        return f"{self._td_attrs()}{content}</td>"

    def _content(self, row: BoundRow) -> Any:
        try:
            value = self.accessor.resolve(row.record)
        except Exception:  # django-tables2 treats a failing accessor as an empty value
            value = None
        if value in self.column.empty_values:
            return self.default
        kwargs = {
            "value": value,
            "record": row.record,
            "column": self.column,
            "bound_column": self.bound_column,
            "bound_row": row,
            "table": self.table,
        }
        content = self.render(kwargs)
        if self.bound_column.link:
            content = self.bound_column.link(content, **kwargs)
        return content


def render_body(table: Table, after: After | None = None) -> SafeString:
    """The ``<tr>`` rows of ``table``'s page (its ``empty_text`` in one row when there are none)."""
    row_attrs = _RowAttrs(table)
    cells = [_Cells(table, bound_column) for bound_column in table.columns]
    parts: list[str] = []
    for row in table.paginated_rows:
        parts.append(f"<tr {row_attrs.html(row)}>")
        parts.extend(cell.html(row) for cell in cells)
        parts.append("</tr>")
        if after is not None:
            parts.append(after(row.record))
    if not parts and table.empty_text:
        parts.append(format_html('<tr><td colspan="{}">{}</td></tr>', len(cells), table.empty_text))
    return mark_safe("\n".join(parts))  # noqa: S308 - every part is escaped above
