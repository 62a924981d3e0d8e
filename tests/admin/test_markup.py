"""``markup``: ``esc`` is ``conditional_escape``, ``DateTimeFormat`` is ``formats.date_format``."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import formats, timezone, translation
from django.utils.functional import lazy
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy

from pghistory_admin.markup import DateTimeFormat, esc


@pytest.mark.parametrize(
    "value",
    [
        "<a href='x'>&\"</a>",
        mark_safe("<b>safe</b>"),
        gettext_lazy("deleted"),
        lazy(lambda: mark_safe("<i>lazy safe</i>"), SafeString)(),
        42,
        None,
        1.5,
    ],
)
def test_esc_is_conditional_escape(value):
    assert esc(value) == conditional_escape(value)


def _datetimes():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    # Midnight, noon, on the hour, leap day, each month, both sides of a DST change.
    yield from (start + timedelta(hours=7 * n, minutes=13 * n) for n in range(0, 1200, 7))
    yield from (
        datetime(2024, 3, 31, 0, 30, tzinfo=UTC) + timedelta(minutes=30 * n) for n in range(8)
    )
    yield datetime(2024, 2, 29, 12, 0, tzinfo=UTC)
    yield datetime(2024, 6, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize(
    "format_name",
    [
        "DATETIME_FORMAT",
        "SHORT_DATETIME_FORMAT",
        r"D, j M Y H:i:s.u a A f g G h P \Y\e\s S t w W L o z E b F l m n N y e O T Z U I c r",
    ],
)
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York"])
def test_datetime_format_is_date_format(language, format_name, zone):
    with translation.override(language), timezone.override(ZoneInfo(zone)):
        dates = DateTimeFormat(format_name)
        for value in _datetimes():
            local = timezone.localtime(value)
            expected = formats.date_format(local, format_name)
            assert dates(dates.localtime(value)) == expected
            escaped = conditional_escape(expected)
            html = f'<time datetime="{local.isoformat()}">{escaped}</time>'
            assert dates.time_html(value) == html


def test_dates_are_formatted_as_dates():
    assert DateTimeFormat("DATE_FORMAT")(date(2024, 2, 29)) == formats.date_format(
        date(2024, 2, 29)
    )
