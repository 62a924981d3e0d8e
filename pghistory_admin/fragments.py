"""HTML the history pages repeat for every event, built in Python.

A timeline page shows dozens of events and hundreds of field changes: rendered through nested
templates (an include per event, per head, per diff) they cost several times the page's SQL.
Here each fragment is one function; the template tags of ``pghistory_admin`` (``{% event_head %}``,
``{% key_change %}``, ``{% diff_table %}``, ``{% timeline_entries %}``) put them in the pages.
Every value is escaped (``markup.esc``, what ``format_html`` does to its arguments); translations
are inserted as ``{% translate %}`` would, looked up once per page (``Words``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from pghistory_admin.markup import DateTimeFormat, esc

if TYPE_CHECKING:
    from django.forms import BoundField

    from pghistory_admin.diffs import FieldChange
    from pghistory_admin.rows import EventRow

__all__ = [
    "Words",
    "diff_table",
    "event_head",
    "filter_field",
    "key_change",
    "timeline_entries",
    "timeline_entry",
]


class Words:
    """The translations and the date format the fragments use, looked up once per page (each
    lookup goes through the active language's catalogue)."""

    def __init__(self) -> None:
        self.dates = DateTimeFormat()
        self.by = gettext("by")
        self.via = gettext("via")
        self.everything = gettext("Everything changed in this request")
        self.renamed_from = gettext("Renamed from #%(old)s")
        self.old_key = gettext("its history under the old key")
        self.no_change = gettext("No tracked field changed.")
        self.before = gettext("Before")
        self.after = gettext("After")
        self.value = gettext("Value")
        self.field = gettext("Field")
        self.event = gettext("event #%(id)s")
        self.compare_event = gettext("Compare event #%(id)s")
        self.from_ = gettext("from")
        self.to = gettext("to")
        self.to_current = gettext("to the current version")
        self.revert = gettext("Revert to this version…")
        self.restore = gettext("Restore this version…")


def _join(parts: Sequence[str]) -> SafeString:
    """Safe parts joined by newlines (which separate inline elements by a space, as in HTML)."""
    return mark_safe("\n".join(part for part in parts if part))  # noqa: S308 - parts are safe


def _translated(translation: str, **values: object) -> str:
    """``{% blocktranslate %}``: the translation as it is, the values escaped."""
    return translation % {key: esc(str(value)) for key, value in values.items()}


def _capfirst(text: str) -> str:
    """``django.utils.text.capfirst`` of a string."""
    return text[0].upper() + text[1:] if text else text


def event_head(row: EventRow, words: Words | None = None) -> SafeString:
    """When, what, by whom, from where: the line above an event (``_event_meta.html``)."""
    words = words or Words()
    label = esc(row.event.pgh_label)
    parts = [
        '<p class="pgh-event-head">',
        words.dates.time_html(row.event.pgh_created_at),
        f'<strong class="pgh-action pgh-action-{label}">{esc(_capfirst(str(row.action)))}</strong>',
    ]
    if row.user_note:
        # A write made outside Django: its label says "via psql as role etl" by itself.
        parts.append(
            f'<span class="pgh-user"><span class="pgh-db-session" title="{esc(row.user_note)}">'
            f"{esc(row.user_label)}</span></span>"
        )
    elif row.user_label:
        user = (
            f'<a href="{esc(row.user_url)}">{esc(row.user_label)}</a>'
            if row.user_url
            else esc(row.user_label)
        )
        parts.append(f'<span class="pgh-user">{esc(words.by)} {user}</span>')
    everything = esc(words.everything)
    if row.source:
        value = esc(row.source)
        if row.context_url:
            source = (
                f'<a href="{esc(row.context_url)}" title="{value} — {everything}">'
                f'<code class="pgh-source-value">{value}</code></a>'
            )
        else:
            source = f'<code class="pgh-source-value" title="{value}">{value}</code>'
        parts.append(f'<span class="pgh-source">{esc(words.via)} {source}</span>')
    elif row.context_url:
        parts.append(f'<a href="{esc(row.context_url)}">{everything}</a>')
    parts += [f'<span class="pgh-event-id">#{esc(row.pgh_id)}</span>', "</p>"]
    return _join(parts)


def key_change(row: EventRow, words: Words | None = None) -> SafeString:
    """The link between the two halves of a history split by a primary key change."""
    if not row.renamed_from:
        return SafeString("")
    words = words or Words()
    link = (
        f': <a href="{esc(row.renamed_from_url)}">{esc(words.old_key)}</a>'
        if row.renamed_from_url
        else ""
    )
    note = _translated(words.renamed_from, old=row.renamed_from)
    return SafeString(f'<p class="pgh-key-change">{note}{link}</p>')


def diff_table(changes: Sequence[FieldChange] | None, words: Words | None = None) -> SafeString:
    """Field, before and after of each change (one value column for initial values)."""
    words = words or Words()
    if not changes:
        return SafeString(f'<p class="pgh-diff-empty">{esc(words.no_change)}</p>')
    if changes[0].changed:
        head = f'<th scope="col">{esc(words.before)}</th>\n<th scope="col">{esc(words.after)}</th>'
    else:
        head = f'<th scope="col">{esc(words.value)}</th>'
    initial = "" if changes[0].changed else " pgh-diff-initial"
    rows = _join([change.row_html() for change in changes])
    return SafeString(
        f'<table class="pgh-diff{initial}">\n<thead>\n<tr>\n'
        f'<th scope="col">{esc(words.field)}</th>\n{head}\n</tr>\n</thead>\n'
        f"<tbody>\n{rows}\n</tbody>\n</table>"
    )


def _compare_pick(row: EventRow, position: int, object_exists: bool, words: Words) -> SafeString:
    """The "from" / "to" radio buttons of the compare form (``position`` counts from 1)."""
    pgh_id = esc(row.pgh_id)
    event = _translated(words.event, id=row.pgh_id)
    legend = _translated(words.compare_event, id=row.pgh_id)
    checked_a = " checked" if position == 2 else ""
    checked_b = " checked" if position == 1 and not object_exists else ""
    parts = [
        '<fieldset class="pgh-compare-pick">',
        f'<legend class="visually-hidden">{legend}</legend>',
        f'<input type="radio" name="a" value="{pgh_id}" id="pgh-a-{pgh_id}"{checked_a}>',
        f'<label for="pgh-a-{pgh_id}">{esc(words.from_)}'
        f'<span class="visually-hidden"> {event}</span></label>',
        f'<input type="radio" name="b" value="{pgh_id}" id="pgh-b-{pgh_id}"{checked_b}>',
        f'<label for="pgh-b-{pgh_id}">{esc(words.to)}'
        f'<span class="visually-hidden"> {event}</span></label>',
    ]
    if position == 1 and object_exists:
        parts += [
            '<input type="radio" name="b" value="current" id="pgh-b-current" checked>',
            f'<label for="pgh-b-current">{esc(words.to_current)}</label>',
        ]
    return _join([*parts, "</fieldset>"])


def timeline_entry(
    row: EventRow,
    *,
    position: int,
    compare_url: str | None,
    object_exists: bool,
    words: Words | None = None,
) -> SafeString:
    """One event of an object's timeline, ``position`` counting from 1 (newest first)."""
    words = words or Words()
    note = f'<p class="pgh-initial-note">{esc(row.values_note)}</p>' if row.shows_values else ""
    body = _join(
        [
            '<div class="pgh-event-body">',
            key_change(row, words),
            note,
            diff_table(row.changes, words),
        ]
    )
    actions = ['<div class="pgh-event-actions">']
    if compare_url:
        actions.append(_compare_pick(row, position, object_exists, words))
    revert_url = row.extra.get("revert_url")
    if revert_url:
        label = words.revert if object_exists else words.restore
        actions.append(f'<a class="button pgh-revert" href="{esc(revert_url)}">{esc(label)}</a>')
    label, pgh_id = esc(row.event.pgh_label), esc(row.pgh_id)
    return _join(
        [
            f'<li class="pgh-event pgh-action-{label}" id="event-{pgh_id}">',
            event_head(row, words),
            f"{body}\n</div>",
            f"{_join(actions)}\n</div>",
            "</li>",
        ]
    )


def timeline_entries(
    rows: Sequence[EventRow], *, compare_url: str | None, object_exists: bool
) -> SafeString:
    """The ``<li>`` of each event of a timeline page."""
    words = Words()
    return _join(
        [
            timeline_entry(
                row,
                position=position,
                compare_url=compare_url,
                object_exists=object_exists,
                words=words,
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
