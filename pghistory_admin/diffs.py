"""Readable field-level diffs of events, rendered as escaped HTML fragments.

Values arrive as Postgres stored them in ``jsonb`` (``pgh_data`` / ``pgh_diff`` of the aggregate
stream): numbers for decimals, ISO strings for dates, ids for foreign keys, nested JSON for JSON
fields. Every fragment returned here is safe HTML: values are escaped, only our own markup is not.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime, parse_time
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from pghistory_admin import conf
from pghistory_admin.labels import last_labels

__all__ = ["MASK", "FieldChange", "FkLabels", "field_changes", "prefetch_fk_labels"]

#: What a secret value shows instead of itself.
MASK = "••••••"
#: Text longer than this (or spanning lines) is diffed word by word.
LONG_TEXT = 80
#: Beyond this many words per side, a word diff costs more than it helps.
_MAX_DIFF_TOKENS = 5000
_TOKENS = re.compile(r"\s+|\S+")

#: ``{(target model, target attname): {str(value): label, or None when the row is gone}}``.
FkLabels = dict[tuple[type[models.Model], str], dict[str, str | None]]
_Target = tuple[type[models.Model], str]
#: Whether the viewer may see rows of a model: the labels of foreign keys to any other model are
#: never fetched, the raw id shows instead (``None``: every model).
MayView = Callable[[type[models.Model]], bool] | None


@dataclass(frozen=True)
class FieldChange:
    """One field of one event: its old and new value as safe HTML."""

    name: str
    label: str
    old: str
    new: str
    kind: str
    changed: bool

    def row_html(self) -> SafeString:
        """The change as a row of ``diff.html``'s table (one per field: built here, not in the
        template, as a timeline page shows hundreds)."""
        wrap = ' style="white-space: pre-wrap"' if self.kind == "longtext" else ""
        old = (
            format_html('<td class="pgh-old"{}>{}</td>', SafeString(wrap), self.old)
            if self.changed
            else ""
        )
        return format_html(
            '<tr class="pgh-diff-row pgh-kind-{}" data-field="{}"><th scope="row">{}</th>'
            '{}<td class="pgh-new"{}>{}</td></tr>',
            self.kind,
            self.name,
            self.label,
            old,
            SafeString(wrap),
            self.new,
        )


def field_changes(
    tracked_model: type[models.Model],
    diff: dict[str, Any] | None,
    data: dict[str, Any],
    *,
    initial: bool = False,
    using: str | None = None,
    fk_labels: FkLabels | None = None,
    may_view: MayView = None,
) -> list[FieldChange]:
    """The changed fields of an event (or, with ``initial``, every field's first value).

    ``fk_labels`` comes from ``prefetch_fk_labels`` over the rows of a page; ids it lacks are
    fetched here, one query per target model. A foreign key to a model ``may_view`` refuses shows
    its raw id alone: neither the target's ``str()`` nor whether it still exists.
    """
    if initial:
        pairs = {key: (None, value) for key, value in data.items()}
    elif diff:
        pairs = {key: (pair[0], pair[1]) for key, pair in diff.items()}
    else:
        return []
    labels = _complete(
        tracked_model, None if initial else diff, data, fk_labels or {}, using, may_view
    )
    fields = _fields(tracked_model)
    return [
        _change(tracked_model, key, fields.get(key), old, new, initial, labels, may_view)
        for key, (old, new) in _ordered(pairs, fields)
    ]


def prefetch_fk_labels(
    tracked_model: type[models.Model],
    rows: Iterable[tuple[dict[str, Any] | None, dict[str, Any]]],
    using: str | None = None,
    may_view: MayView = None,
) -> FkLabels:
    """Labels of every foreign key target in ``(diff, data)`` rows: one query per target model.

    Targets of models ``may_view`` refuses are left out.
    """
    wanted: dict[_Target, set[str]] = {}
    for diff, data in rows:
        for field, value in _fk_values(tracked_model, diff, data, may_view):
            wanted.setdefault(_target(field), set()).add(_key(field, value))
    return {target: _fetch_labels(target, keys, using) for target, keys in wanted.items()}


def _complete(
    tracked_model: type[models.Model],
    diff: dict[str, Any] | None,
    data: dict[str, Any],
    known: FkLabels,
    using: str | None,
    may_view: MayView,
) -> FkLabels:
    """``known`` plus the labels of this event's targets it lacks (the caller's dict is kept)."""
    missing: dict[_Target, set[str]] = {}
    for field, value in _fk_values(tracked_model, diff, data, may_view):
        target, key = _target(field), _key(field, value)
        if key not in known.get(target, {}):
            missing.setdefault(target, set()).add(key)
    if not missing:
        return known
    labels = {target: dict(values) for target, values in known.items()}
    for target, keys in missing.items():
        labels.setdefault(target, {}).update(_fetch_labels(target, keys, using))
    return labels


def _fk_values(
    tracked_model: type[models.Model],
    diff: dict[str, Any] | None,
    data: dict[str, Any],
    may_view: MayView,
) -> Iterator[tuple[models.Field[Any, Any], Any]]:
    """Foreign key fields to viewable models and the non-null ids a row shows for them."""
    for attname, field in _fields(tracked_model).items():
        if not _is_fk(field) or not _may_label(field, may_view):
            continue
        if diff is None:
            values = [data.get(attname)]
        else:
            values = list(diff.get(attname) or [])
        yield from ((field, value) for value in values if value is not None)


class DeletedLabel(str):
    """The label of a foreign key's target that no longer exists, from its recorded history."""

    __slots__ = ()


def _fetch_labels(target: _Target, keys: set[str], using: str | None) -> dict[str, str | None]:
    """``str()`` of the target rows with these keys; for keys no row has any more, the
    ``DeletedLabel`` of their last recorded values (a tracked target) or ``None``."""
    model, attname = target
    field = next(field for field in model._meta.concrete_fields if field.attname == attname)
    labels: dict[str, str | None] = dict.fromkeys(keys)
    values = []
    for key in keys:
        try:
            values.append(field.to_python(key))
        except ValidationError:
            continue  # not an id the target could have: shown as deleted
    rows = model._base_manager.db_manager(using).filter(**{f"{attname}__in": values})
    for obj in rows:
        labels[str(getattr(obj, attname))] = str(obj)
    gone = [value for value in values if labels.get(str(value)) is None]
    if gone and field.primary_key:
        # One more query, only for targets that are gone: their names as last recorded.
        for pk, label in last_labels(model, gone, using=using).items():
            labels[str(pk)] = DeletedLabel(label)
    return labels


def _fields(tracked_model: type[models.Model]) -> dict[str, models.Field[Any, Any]]:
    return {field.attname: field for field in tracked_model._meta.concrete_fields}


def _ordered(
    pairs: dict[str, tuple[Any, Any]], fields: dict[str, models.Field[Any, Any]]
) -> list[tuple[str, tuple[Any, Any]]]:
    """Model field order first, then keys of fields the model no longer has."""
    known = [(key, pairs[key]) for key in fields if key in pairs]
    return known + sorted((key, pair) for key, pair in pairs.items() if key not in fields)


def _is_fk(field: models.Field[Any, Any]) -> bool:
    return bool(field.is_relation and (field.many_to_one or field.one_to_one))


def _may_label(field: models.Field[Any, Any], may_view: MayView) -> bool:
    """Whether the target of foreign key ``field`` may be shown by its label."""
    return may_view is None or bool(may_view(_target(field)[0]))


def _target(field: models.Field[Any, Any]) -> _Target:
    target_field = field.target_field  # type: ignore[attr-defined]
    return target_field.model, target_field.attname


def _key(field: models.Field[Any, Any], value: Any) -> str:
    """The id as the target's own field spells it, so JSON ``"3"`` and ``3`` agree."""
    try:
        return str(field.target_field.to_python(value))  # type: ignore[attr-defined]
    except ValidationError:
        return str(value)


def _change(
    tracked_model: type[models.Model],
    key: str,
    field: models.Field[Any, Any] | None,
    old: Any,
    new: Any,
    initial: bool,
    labels: FkLabels,
    may_view: MayView = None,
) -> FieldChange:
    kind = _kind(tracked_model, key, field, old, new, may_view)
    if initial:
        old_html, new_html = SafeString(""), _render_one(kind, field, new, labels)
    else:
        old_html, new_html = _render_pair(kind, field, old, new, labels)
    return FieldChange(
        name=field.name if field is not None else key,
        label=_label(key, field),
        old=old_html,
        new=new_html,
        kind=kind,
        changed=not initial,
    )


def _label(key: str, field: models.Field[Any, Any] | None) -> str:
    if field is None:
        return capfirst(key.replace("_", " "))
    return capfirst(str(field.verbose_name))


def _kind(
    tracked_model: type[models.Model],
    key: str,
    field: models.Field[Any, Any] | None,
    old: Any,
    new: Any,
    may_view: MayView = None,
) -> str:
    if conf.is_secret_field(tracked_model, key, field):
        return "secret"
    if field is None:
        return "value"
    if _is_fk(field):
        return "fk" if _may_label(field, may_view) else "fkid"
    if field.flatchoices:
        return "choice"
    if isinstance(field, models.BooleanField):
        return "bool"
    if isinstance(field, models.DateField | models.TimeField):
        return "datetime"
    if isinstance(field, models.JSONField):
        return "json"
    if isinstance(old, str) or isinstance(new, str):
        return "longtext" if _is_long(old) or _is_long(new) else "text"
    return "value"


def _is_long(value: Any) -> bool:
    return isinstance(value, str) and (len(value) > LONG_TEXT or "\n" in value)


def _render_pair(
    kind: str, field: models.Field[Any, Any] | None, old: Any, new: Any, labels: FkLabels
) -> tuple[SafeString, SafeString]:
    if kind == "longtext":
        return _word_diff(old, new)
    if kind == "json":
        return _json_diff(old, new)
    return _render_one(kind, field, old, labels), _render_one(kind, field, new, labels)


def _render_one(
    kind: str, field: models.Field[Any, Any] | None, value: Any, labels: FkLabels
) -> SafeString:
    """One value on its own (no comparison with the other side)."""
    if kind == "secret":
        return format_html('<span class="pgh-secret" title="{}">{}</span>', _("Hidden"), MASK)
    if value is None:
        return _empty()
    if kind == "fk" and field is not None:
        return _fk(field, value, labels)
    if kind == "fkid":
        return format_html('<span class="pgh-fk">#{}</span>', value)
    if kind == "choice" and field is not None:
        return _choice(field, value)
    if kind == "bool":
        return escape(_("Yes") if value else _("No"))
    if kind == "datetime":
        return _datetime(value)
    if kind == "json":
        return _json_items(value)
    if isinstance(field, models.DecimalField):
        return _decimal(field, value)
    if isinstance(value, str):
        return escape(value)
    return escape(_compact(value))


def _empty() -> SafeString:
    return format_html('<span class="pgh-empty">{}</span>', "-")


def _fk(field: models.Field[Any, Any], value: Any, labels: FkLabels) -> SafeString:
    label = labels.get(_target(field), {}).get(_key(field, value))
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


def _datetime(value: Any) -> SafeString:
    """A date, time or datetime in the current time zone and locale; ISO in ``datetime``."""
    parsed = _parse_temporal(value)
    if parsed is None:
        return escape(str(value))
    if isinstance(parsed, datetime):
        if timezone.is_aware(parsed):
            parsed = timezone.localtime(parsed)
        text = formats.date_format(parsed, "DATETIME_FORMAT")
    elif isinstance(parsed, date):
        text = formats.date_format(parsed, "DATE_FORMAT")
    else:
        text = formats.time_format(parsed, "TIME_FORMAT")
    return format_html('<time datetime="{}">{}</time>', parsed.isoformat(), text)


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
