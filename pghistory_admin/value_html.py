"""Values of events as escaped HTML: one value alone, or the old and new value of a change.

Values arrive as Postgres stored them in ``jsonb``: numbers for decimals, ISO strings for
dates, ids for foreign keys, nested JSON for JSON fields. Long texts are diffed word by word and
JSON objects key by key. Every fragment returned here is safe HTML: values are escaped, only our
own markup is not.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.fields.related import RelatedField
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime, parse_time
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from pghistory_admin.conf import MASK
from pghistory_admin.fk_labels import DeletedLabel, FkLabels, fk_key, fk_target
from pghistory_admin.markup import DateTimeFormat, esc

__all__ = ["render_one", "render_pair"]

#: Beyond this many words per side, a word diff costs more than it helps.
_MAX_DIFF_TOKENS = 5000
_TOKENS = re.compile(r"\s+|\S+")


def render_pair(
    kind: str,
    field: models.Field[Any, Any] | None,
    old: Any,
    new: Any,
    labels: FkLabels,
    dates: DateTimeFormat | None = None,
) -> tuple[SafeString, SafeString]:
    """The old and new value of a change (``dates``: the page's, see ``render_one``)."""
    if kind == "longtext":
        return _word_diff(old, new)
    if kind == "json":
        return _json_diff(old, new)
    return render_one(kind, field, old, labels, dates), render_one(kind, field, new, labels, dates)


def render_one(
    kind: str,
    field: models.Field[Any, Any] | None,
    value: Any,
    labels: FkLabels,
    dates: DateTimeFormat | None = None,
) -> SafeString:
    """One value on its own (no comparison with the other side). ``dates`` formats datetimes
    (one per page: the format and its translations are looked up once)."""
    if kind == "secret":
        return format_html('<span class="pgh-secret" title="{}">{}</span>', _("Hidden"), MASK)
    if value is None:
        return _empty()
    if kind == "fk" and isinstance(field, RelatedField):
        return _fk(field, value, labels)
    if kind == "fkid":
        return format_html('<span class="pgh-fk">#{}</span>', value)
    if kind == "choice" and field is not None:
        return _choice(field, value)
    if kind == "bool":
        return escape(_("Yes") if value else _("No"))
    if kind == "datetime":
        return _datetime(value, dates)
    if kind == "json":
        return _json_items(value)
    if isinstance(field, models.DecimalField):
        return _decimal(field, value)
    if isinstance(value, str):
        return escape(value)
    return escape(_compact(value))


def _empty() -> SafeString:
    return SafeString('<span class="pgh-empty">-</span>')


def _fk(field: RelatedField[Any, Any], value: Any, labels: FkLabels) -> SafeString:
    label = labels.get(fk_target(field), {}).get(fk_key(field, value))
    if isinstance(label, DeletedLabel):
        return format_html(
            '<span class="pgh-fk pgh-deleted" title="{}">{} (#{}, {})</span>',
            _("This object no longer exists."),
            label,
            value,
            _("deleted"),
        )
    if label is None:
        return format_html(
            '<span class="pgh-fk pgh-deleted" title="{}">#{} ({})</span>',
            _("This object no longer exists."),
            value,
            _("deleted"),
        )
    return format_html('<span class="pgh-fk">{} (#{})</span>', label, value)


def _choice(field: models.Field[Any, Any], value: Any) -> SafeString:
    choices = {str(key): label for key, label in field.flatchoices}
    display = choices.get(str(value), value)
    return format_html('<span class="pgh-choice" title="{}">{}</span>', value, display)


def _datetime(value: Any, dates: DateTimeFormat | None = None) -> SafeString:
    """A date, time or datetime in the current time zone and locale; ISO in ``datetime``."""
    parsed = _parse_temporal(value)
    if parsed is None:
        return escape(str(value))
    if isinstance(parsed, datetime):
        if timezone.is_aware(parsed):
            parsed = dates.localtime(parsed) if dates else timezone.localtime(parsed)
        text = dates(parsed) if dates else formats.date_format(parsed, "DATETIME_FORMAT")
    elif isinstance(parsed, date):
        text = formats.date_format(parsed, "DATE_FORMAT")
    else:
        text = formats.time_format(parsed, "TIME_FORMAT")
    return SafeString(f'<time datetime="{esc(parsed.isoformat())}">{esc(text)}</time>')


def _parse_temporal(value: Any) -> datetime | date | time | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value) or parse_date(value) or parse_time(value)
    except ValueError:
        return None


def _decimal(field: models.DecimalField[Any, Any], value: Any) -> SafeString:
    """Decimals arrive as JSON numbers (``12.5``); show them with the field's places."""
    try:
        number = Decimal(str(value))
        if field.decimal_places is not None:
            number = number.quantize(Decimal(1).scaleb(-field.decimal_places))
    except (InvalidOperation, ValueError):
        return escape(str(value))
    return escape(formats.localize(number))


def _word_diff(old: Any, new: Any) -> tuple[SafeString, SafeString]:
    """Both texts with removed words in ``<del>`` and added words in ``<ins>``."""
    before, after = _tokens(old), _tokens(new)
    opcodes: Sequence[tuple[str, int, int, int, int]]
    if len(before) > _MAX_DIFF_TOKENS or len(after) > _MAX_DIFF_TOKENS:
        opcodes = [("replace", 0, len(before), 0, len(after))]
    else:
        opcodes = difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()
    old_parts: list[SafeString] = []
    new_parts: list[SafeString] = []
    for tag, i1, i2, j1, j2 in opcodes:
        removed, added = "".join(before[i1:i2]), "".join(after[j1:j2])
        if tag == "equal":
            old_parts.append(escape(removed))
            new_parts.append(escape(added))
            continue
        if removed:
            old_parts.append(format_html("<del>{}</del>", removed))
        if added:
            new_parts.append(format_html("<ins>{}</ins>", added))
    old_html = _join(old_parts) if old is not None else _empty()
    new_html = _join(new_parts) if new is not None else _empty()
    return old_html, new_html


def _tokens(value: Any) -> list[str]:
    """Words and the whitespace between them, so joining the tokens gives the text back."""
    if value is None:
        return []
    return _TOKENS.findall(value if isinstance(value, str) else str(value))


def _json_diff(old: Any, new: Any) -> tuple[SafeString, SafeString]:
    """Both sides alike, key by key: every key of each side, marked against the other side.

    The old side marks removed and changed keys, the new side added and changed ones; unchanged
    keys are listed plainly on both, so neither side reads as if keys had gone. Objects nested
    in a changed key are compared the same way, key by key.
    """
    return _json_tree(old, old, new, "old"), _json_tree(new, new, old, "new")


def _json_mark(status: str) -> str:
    """The word shown after a marked key, so the marking does not rely on colour alone."""
    words = {"added": _("added"), "removed": _("removed"), "changed": _("changed")}
    return words[status]


def _json_tree(value: Any, this: Any, other: Any, side: str | None) -> SafeString:
    """``value`` as a key-by-key list; with ``side``, its keys marked against ``other``."""
    if value is None and side is not None:
        return _empty()
    if not isinstance(value, dict) or not value:
        code = format_html('<code class="pgh-json">{}</code>', _compact(value))
        if side is not None and _compact(this) != _compact(other):
            return format_html("<{}>{}</{}>", _side_tag(side), code, _side_tag(side))
        return code
    items = [_json_entry(key, value[key], other, side) for key in sorted(value)]
    return format_html('<ul class="pgh-json">{}</ul>', _join(items))


def _side_tag(side: str) -> str:
    return "del" if side == "old" else "ins"


def _json_entry(key: str, value: Any, other: Any, side: str | None) -> SafeString:
    """One key of an object: plain, or marked added/removed/changed against ``other``."""
    if side is None:
        return format_html(
            '<li data-key="{}"><span class="pgh-json-key">{}</span>: {}</li>',
            key,
            key,
            _json_tree(value, value, None, None),
        )
    others = other if isinstance(other, dict) else {}
    if key not in others:
        status = "added" if side == "new" else "removed"
    elif _compact(others[key]) == _compact(value):
        status = "same"
    else:
        status = "changed"
    if status == "same":
        shown = _json_tree(value, value, None, None)
    elif status == "changed" and isinstance(value, dict) and isinstance(others[key], dict):
        # Both sides hold an object: compare them key by key too.
        shown = _json_tree(value, value, others[key], side)
    else:
        tag = _side_tag(side)
        shown = format_html("<{}>{}</{}>", tag, _json_tree(value, value, None, None), tag)
    mark = (
        format_html(' <span class="pgh-json-mark">({})</span>', _json_mark(status))
        if status != "same"
        else SafeString("")
    )
    return format_html(
        '<li class="pgh-json-{}" data-key="{}"><span class="pgh-json-key">{}</span>: {}{}</li>',
        status,
        key,
        key,
        shown,
        mark,
    )


def _json_items(value: Any) -> SafeString:
    """A JSON value alone: objects key by key (nested ones too), anything else as compact JSON."""
    return _json_tree(value, value, None, None)


def _compact(value: Any) -> str:
    return json.dumps(
        value, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )


def _join(parts: Iterable[SafeString]) -> SafeString:
    # format_html_join keeps already-safe parts as they are and escapes anything else.
    return format_html_join("", "{}", ((part,) for part in parts))
