"""Escaping and date formatting for HTML that the pages build in Python, row by row.

``format_html`` and ``conditional_escape`` go through ``keep_lazy`` wrappers, and
``formats.date_format`` looks up the format and the translations of month and "p.m." on every
call: on pages of 50 rows they cost more than building the rows. ``esc`` is
``conditional_escape`` without the wrappers, and ``DateTimeFormat`` formats many datetimes of one
request (one language, one time zone), keeping what a part of the format gives for a date or an
hour and minute. The output is the same as theirs.
"""

from __future__ import annotations

import html
from datetime import date, datetime, tzinfo
from typing import Any

from django.utils import dateformat, formats, timezone
from django.utils.dateformat import DateFormat, re_escaped, re_formatchars
from django.utils.functional import Promise

__all__ = ["DateTimeFormat", "esc"]

#: Format characters whose text depends only on the date (year, month, day).
_DATE_CHARS = frozenset("bdDEFjlLmMnNoStwWyYz")
#: Format characters whose text depends only on the hour and minute.
_TIME_CHARS = frozenset("aAfgGhHiP")


class _DateFormat(DateFormat):
    """``DateFormat`` whose "a.m."/"p.m." (``a``, ``A``, and ``P`` through them) are translated
    once per ``DateTimeFormat``."""

    texts: dict[tuple[Any, ...], str]

    def a(self) -> str:
        key = ("a", self.data.hour > 11)  # type: ignore[union-attr]  # a datetime
        if key not in self.texts:
            self.texts[key] = str(super().a())
        return self.texts[key]

    def A(self) -> str:
        key = ("A", self.data.hour > 11)  # type: ignore[union-attr]  # a datetime
        if key not in self.texts:
            self.texts[key] = str(super().A())
        return self.texts[key]


def esc(value: Any) -> str:
    """``conditional_escape(value)``: safe values (``__html__``) as they are, others escaped."""
    if isinstance(value, Promise):
        value = str(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


class DateTimeFormat:
    """``formats.date_format(timezone.localtime(value), format_name)`` for one request.

    Create one per page (the language, the format and the current time zone are read once).
    """

    def __init__(self, format_name: str = "DATETIME_FORMAT") -> None:
        self.format = str(formats.get_format(format_name))
        self.tz: tzinfo = timezone.get_current_timezone()
        # (literal, "") or ("", format character), as ``Formatter.format`` splits them.
        self.pieces: list[tuple[str, str]] = []
        for index, piece in enumerate(re_formatchars.split(self.format)):
            if index % 2:
                self.pieces.append(("", piece))
            elif piece:
                self.pieces.append((re_escaped.sub(r"\1", piece), ""))
        self._texts: dict[tuple[Any, ...], str] = {}

    def localtime(self, value: datetime) -> datetime:
        """``timezone.localtime(value)`` in the time zone of the request."""
        return timezone.localtime(value, self.tz)

    def __call__(self, value: date) -> str:
        """``formats.date_format(value, format_name)`` of a (local) datetime, or of a date."""
        if not isinstance(value, datetime):
            return str(dateformat.format(value, self.format))
        parts = []
        formatter: _DateFormat | None = None
        texts = self._texts
        for literal, char in self.pieces:
            if literal:
                parts.append(literal)
                continue
            key: tuple[Any, ...] | None
            if char in _DATE_CHARS:
                key = (char, value.year, value.month, value.day)
            elif char in _TIME_CHARS:
                key = (char, value.hour, value.minute)
            else:  # seconds, time zone: not kept
                key = None
            text = texts.get(key) if key is not None else None
            if text is None:
                if formatter is None:
                    formatter = _DateFormat(value)
                    formatter.texts = texts
                text = str(getattr(formatter, char)())
                if key is not None:
                    texts[key] = text
            parts.append(text)
        return "".join(parts)

    def time_html(self, value: datetime) -> str:
        """``<time datetime="…">…</time>`` of an aware datetime, in local time."""
        local = self.localtime(value)
        return f'<time datetime="{esc(local.isoformat())}">{esc(self(local))}</time>'
