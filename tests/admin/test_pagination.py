import pytest

from pghistory_admin.conf import page_size
from pghistory_admin.pagination import (
    MAX_ID,
    Cursor,
    InvalidCursor,
    keyset_page,
    parse_cursor,
)
from pghistory_core.models import Events
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db


@pytest.fixture
def ids():
    Author.objects.bulk_create([Author(name=f"a{i}") for i in range(7)])
    return list(Events.objects.order_by("pgh_id").values_list("pgh_id", flat=True))


def page_ids(page):
    return [row.pgh_id for row in page.rows]


@pytest.mark.parametrize(
    ("params", "cursor"),
    [
        ({}, Cursor()),
        ({"before": "12"}, Cursor(before=12)),
        ({"after": " 3 "}, Cursor(after=3)),
        ({"before": ""}, Cursor()),
        ({"before": str(MAX_ID)}, Cursor(before=MAX_ID)),
    ],
)
def test_parse_cursor(params, cursor):
    assert parse_cursor(params) == cursor


@pytest.mark.parametrize(
    "params",
    [
        {"before": "abc"},
        {"before": "-1"},
        {"before": "0"},
        {"before": "1e9"},
        {"before": "1.5"},
        {"before": str(MAX_ID + 1)},
        {"after": "9" * 400},
        {"before": "1", "after": "2"},
        {"before": "\uff11\uff12"},  # full-width digits, which int() would accept
    ],
)
def test_parse_cursor_rejects_malformed(params):
    with pytest.raises(InvalidCursor):
        parse_cursor(params)


def test_first_page_newest_first(ids):
    page = keyset_page(Events.objects.all(), Cursor(), size=3)
    assert page_ids(page) == ids[::-1][:3]
    assert page.has_next
    assert not page.has_previous
    assert page.next_params == {"before": ids[-3], "after": None}


def test_following_pages_until_the_end(ids):
    seen, cursor = [], Cursor()
    while True:
        page = keyset_page(Events.objects.all(), cursor, size=3)
        seen += page_ids(page)
        if not page.has_next:
            break
        cursor = Cursor(**page.next_params)
    assert seen == ids[::-1]
    assert page.has_previous


def test_going_back_returns_the_previous_page(ids):
    second = keyset_page(Events.objects.all(), Cursor(before=ids[-3]), size=3)
    back = keyset_page(Events.objects.all(), Cursor(**second.previous_params), size=3)
    assert page_ids(back) == ids[::-1][:3]
    assert back.has_next
    assert not back.has_previous


def test_ascending_pages(ids):
    page = keyset_page(Events.objects.all(), Cursor(), size=4, descending=False)
    assert page_ids(page) == ids[:4]
    second = keyset_page(Events.objects.all(), Cursor(**page.next_params), size=4, descending=False)
    assert page_ids(second) == ids[4:]
    assert not second.has_next
    back = keyset_page(
        Events.objects.all(), Cursor(**second.previous_params), size=4, descending=False
    )
    assert page_ids(back) == ids[:4]


def test_exact_fit_has_no_next_page(ids):
    page = keyset_page(Events.objects.all(), Cursor(), size=len(ids))
    assert not page.has_next


def test_cursor_beyond_the_data_gives_an_empty_page(ids):
    page = keyset_page(Events.objects.all(), Cursor(before=1), size=3)
    assert page.rows == []
    assert page.next_params == {"before": None, "after": None}


def test_page_size_setting(settings):
    assert page_size() == 50
    settings.PGHISTORY_ADMIN_PAGE_SIZE = 10
    assert page_size() == 10
    settings.PGHISTORY_ADMIN_PAGE_SIZE = 100000
    assert page_size() == 500
