"""HTML the history pages repeat for every event, built with ``format_html``.

A timeline page shows dozens of events and hundreds of field changes: rendered through nested
templates (an include per event, per head, per diff) they cost several times the page's SQL.
Here each fragment is one function; the template tags of ``pghistory_admin`` (``{% event_head %}``,
``{% key_change %}``, ``{% diff_table %}``, ``{% timeline_entries %}``) put them in the pages.
Every value is escaped; translations are inserted as ``{% translate %}`` would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils import formats, timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext

from pghistory_admin.markup import esc

if TYPE_CHECKING:
    from django.forms import BoundField

    from pghistory_admin.diffs import FieldChange
    from pghistory_admin.rows import EventRow

__all__ = [
    "diff_table",
    "event_head",
    "filter_field",
    "key_change",
    "timeline_entries",
    "timeline_entry",
]


def _join(parts: Sequence[str]) -> SafeString:
    """Safe parts joined by newlines (which separate inline elements by a space, as in HTML)."""
    return mark_safe("\n".join(part for part in parts if part))  # noqa: S308 - parts are safe


def _translated(translation: str, **values: object) -> SafeString:
    """``{% blocktranslate %}``: the translation as it is, the values escaped."""
    escaped = {key: conditional_escape(str(value)) for key, value in values.items()}
    return mark_safe(translation % escaped)  # noqa: S308 - translations are trusted, as in templates


def event_head(row: EventRow) -> SafeString:
    """When, what, by whom, from where: the line above an event (``_event_meta.html``)."""
    created = timezone.localtime(row.event.pgh_created_at)
    parts = [
        '<p class="pgh-event-head">',
        format_html(
            '<time datetime="{}">{}</time>',
            created.isoformat(),
            formats.date_format(created, "DATETIME_FORMAT"),
        ),
        format_html(
            '<strong class="pgh-action pgh-action-{}">{}</strong>',
            row.event.pgh_label,
            capfirst(row.action),
        ),
    ]
    if row.user_note:
        # A write made outside Django: its label says "via psql as role etl" by itself.
        parts.append(
            format_html(
                '<span class="pgh-user"><span class="pgh-db-session" title="{}">{}</span></span>',
                row.user_note,
                row.user_label,
            )
        )
    elif row.user_label:
        user = (
            format_html('<a href="{}">{}</a>', row.user_url, row.user_label)
            if row.user_url
            else row.user_label
        )
        parts.append(format_html('<span class="pgh-user">{} {}</span>', gettext("by"), user))
    everything = gettext("Everything changed in this request")
    if row.source:
        if row.context_url:
            source = format_html(
                '<a href="{}" title="{} — {}"><code class="pgh-source-value">{}</code></a>',
                row.context_url,
                row.source,
                everything,
                row.source,
            )
        else:
            source = format_html(
                '<code class="pgh-source-value" title="{}">{}</code>', row.source, row.source
            )
        parts.append(format_html('<span class="pgh-source">{} {}</span>', gettext("via"), source))
    elif row.context_url:
        parts.append(format_html('<a href="{}">{}</a>', row.context_url, everything))
    parts += [format_html('<span class="pgh-event-id">#{}</span>', row.pgh_id), "</p>"]
    return _join(parts)


def key_change(row: EventRow) -> SafeString:
    """The link between the two halves of a history split by a primary key change."""
    if not row.renamed_from:
        return SafeString("")
    link = (
        format_html(
            ': <a href="{}">{}</a>', row.renamed_from_url, gettext("its history under the old key")
        )
        if row.renamed_from_url
        else ""
    )
    return format_html(
        '<p class="pgh-key-change">{}{}</p>',
        _translated(gettext("Renamed from #%(old)s"), old=row.renamed_from),
        link,
    )


def diff_table(changes: Sequence[FieldChange] | None) -> SafeString:
    """Field, before and after of each change (one value column for initial values)."""
    if not changes:
        return format_html('<p class="pgh-diff-empty">{}</p>', gettext("No tracked field changed."))
    if changes[0].changed:
        head = format_html(
            '<th scope="col">{}</th>\n<th scope="col">{}</th>', gettext("Before"), gettext("After")
        )
    else:
        head = format_html('<th scope="col">{}</th>', gettext("Value"))
    return format_html(
        '<table class="pgh-diff{}">\n<thead>\n<tr>\n<th scope="col">{}</th>\n{}\n</tr>\n</thead>\n'
        "<tbody>\n{}\n</tbody>\n</table>",
        "" if changes[0].changed else " pgh-diff-initial",
        gettext("Field"),
        head,
        _join([change.row_html() for change in changes]),
    )


def _compare_pick(row: EventRow, position: int, object_exists: bool) -> SafeString:
    """The "from" / "to" radio buttons of the compare form (``position`` counts from 1)."""
    pgh_id = row.pgh_id
    event = _translated(gettext("event #%(id)s"), id=pgh_id)
    parts = [
        '<fieldset class="pgh-compare-pick">',
        format_html(
            '<legend class="visually-hidden">{}</legend>',
            _translated(gettext("Compare event #%(id)s"), id=pgh_id),
        ),
        format_html(
            '<input type="radio" name="a" value="{}" id="pgh-a-{}"{}>',
            pgh_id,
            pgh_id,
            " checked" if position == 2 else "",
        ),
        format_html(
            '<label for="pgh-a-{}">{}<span class="visually-hidden"> {}</span></label>',
            pgh_id,
            gettext("from"),
            event,
        ),
        format_html(
            '<input type="radio" name="b" value="{}" id="pgh-b-{}"{}>',
            pgh_id,
            pgh_id,
            " checked" if position == 1 and not object_exists else "",
        ),
        format_html(
            '<label for="pgh-b-{}">{}<span class="visually-hidden"> {}</span></label>',
            pgh_id,
            gettext("to"),
            event,
        ),
    ]
    if position == 1 and object_exists:
        parts += [
            '<input type="radio" name="b" value="current" id="pgh-b-current" checked>',
            format_html('<label for="pgh-b-current">{}</label>', gettext("to the current version")),
        ]
    return _join([*parts, "</fieldset>"])


def timeline_entry(
    row: EventRow, *, position: int, compare_url: str | None, object_exists: bool
) -> SafeString:
    """One event of an object's timeline, ``position`` counting from 1 (newest first)."""
    note = (
        format_html('<p class="pgh-initial-note">{}</p>', row.values_note)
        if row.shows_values
        else ""
    )
    body = _join(['<div class="pgh-event-body">', key_change(row), note, diff_table(row.changes)])
    actions = ['<div class="pgh-event-actions">']
    if compare_url:
        actions.append(_compare_pick(row, position, object_exists))
    revert_url = row.extra.get("revert_url")
    if revert_url:
        if object_exists:
            label = gettext("Revert to this version…")
        else:
            label = gettext("Restore this version…")
        actions.append(
            format_html('<a class="button pgh-revert" href="{}">{}</a>', revert_url, label)
        )
    return _join(
        [
            format_html(
                '<li class="pgh-event pgh-action-{}" id="event-{}">',
                row.event.pgh_label,
                row.pgh_id,
            ),
            event_head(row),
            body + mark_safe("\n</div>"),
            _join(actions) + mark_safe("\n</div>"),
            "</li>",
        ]
    )


def timeline_entries(
    rows: Sequence[EventRow], *, compare_url: str | None, object_exists: bool
) -> SafeString:
    """The ``<li>`` of each event of a timeline page."""
    return _join(
        [
            timeline_entry(
                row, position=position, compare_url=compare_url, object_exists=object_exists
            )
            for position, row in enumerate(rows, start=1)
        ]
    )


def filter_field(field: BoundField, *, oob: bool = False) -> SafeString:
    """One field of the audit log's filter form: label, widget, help text and errors. With
    ``oob``, the results partial carries it out of band (``hx-swap-oob``), so a filter whose
    choices depend on another (changed field → model) follows it."""
    errors = field.errors
    classes = "pgh-filter errors" if errors else "pgh-filter"
    swap = ' hx-swap-oob="true"' if oob else ""
    help_text = (
        f'<div class="help" id="{esc(field.auto_id)}_helptext">{esc(field.help_text)}</div>'
        if field.help_text
        else ""
    )
    return mark_safe(  # noqa: S308 - every value is escaped (label, widget, errors are safe HTML)
        f'<div class="{classes}" id="pgh-filter-{esc(field.name)}"{swap}>\n'
        f"  {esc(field.label_tag())}\n"
        f"  {esc(field)}\n"
        f"  {help_text}\n"
        f"  {esc(errors)}\n"
        "</div>"
    )
