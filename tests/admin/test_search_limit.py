"""The ``field`` filter searches a bounded number of events per request and says where it stopped."""

import csv
import io
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from pghistory_admin import conf
from pghistory_admin.search_limit import search_limit
from pghistory_core.models import Events
from tests.testapp.models import Author, Book, BookEvent

pytestmark = pytest.mark.django_db

URL = "/admin/pghistory_admin/auditlog/"
EXPORT = URL + "export/"


def changes(key, queryset=None):
    """The oracle: ids of the events whose ``pgh_diff`` has ``key``, newest first."""
    queryset = Events.objects.all() if queryset is None else queryset
    queryset = queryset.by_attname()  # keyed by field name, as the filter is
    return [e.pgh_id for e in queryset.order_by("-pgh_id") if e.pgh_diff and key in e.pgh_diff]


@pytest.fixture
def titles(book, author):
    """Thirty updates of a book, its title changing in every fifth; authors updated in between."""
    for index in range(30):
        Book.objects.filter(pk=book.pk).update(title=f"Title {index // 5}", price=index)
        Author.objects.filter(pk=author.pk).update(email=f"{index}@example.com")
    return book


def follow(client, params, link="next_url"):
    """Every page from ``params`` on through ``link``: (rows' ids per page, responses)."""
    pages, responses = [], []
    url = URL + "?" + urlencode(params)
    while url:
        response = client.get(url)
        assert response.status_code == 200
        pages.append([row.pgh_id for row in response.context["rows"]])
        responses.append(response)
        following = response.context[link]
        url = URL + following if following else None
        assert len(pages) < 100
    return pages, responses


def test_pages_stop_at_the_limit_and_going_on_finds_every_change(root_client, titles, settings):
    settings.PGHISTORY_ADMIN_PAGE_SIZE = 2
    settings.PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT = 3
    pages, responses = follow(root_client, {"field": "title"})
    found = [pgh_id for page in pages for pgh_id in page]
    assert found == changes("title")
    limited = [r for r in responses if r.context["search_limit"] is not None]
    assert limited
    for response in limited:
        limit = response.context["search_limit"]
        assert limit.events == 3
        html = response.content.decode()
        assert 'class="pgh-search-limit" role="status"' in html
        assert "Searched 3 events for changes of “Title”, back to" in html
        assert "older events were not searched." in html
        # The link goes on from the last event searched, which is a book event (the scope).
        assert response.context["limit_url"] == f"?field=title&before={limit.pgh_id}"
        assert BookEvent.objects.filter(pgh_id=limit.pgh_id).exists()
    # A page that found nothing in its events still says so and goes on.
    assert any(not page for page in pages[:-1])


def test_the_events_searched_are_those_of_tables_tracking_the_field(root_client, titles):
    scope = Events.objects.across(BookEvent)
    limit = search_limit(scope, start=None, descending=True, events=7)
    book_ids = list(scope.order_by("-pgh_id").values_list("pgh_id", flat=True))
    assert limit.pgh_id == book_ids[6]
    assert limit.created_at == BookEvent.objects.get(pgh_id=limit.pgh_id).pgh_created_at
    following = search_limit(scope, start=limit.pgh_id, descending=True, events=7)
    assert following.pgh_id == book_ids[13]
    assert search_limit(scope, start=book_ids[-3], descending=True, events=7) is None
    ascending = search_limit(scope, start=None, descending=False, events=7)
    assert ascending.pgh_id == book_ids[-7]


def test_oldest_first_goes_forward_and_says_newer(root_client, titles, settings):
    settings.PGHISTORY_ADMIN_PAGE_SIZE = 2
    settings.PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT = 7
    pages, responses = follow(root_client, {"field": "title", "sort": "time"})
    assert [pgh_id for page in pages for pgh_id in page] == changes("title")[::-1]
    limited = [r for r in responses if r.context["search_limit"] is not None]
    assert limited
    assert "newer events were not searched." in limited[0].content.decode()


@pytest.mark.parametrize("sort", ["-time", "time"])
def test_previous_pages_go_back_to_the_first(root_client, titles, settings, sort):
    settings.PGHISTORY_ADMIN_PAGE_SIZE = 2
    settings.PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT = 3
    forward, responses = follow(root_client, {"field": "title", "sort": sort})
    last = responses[-1].wsgi_request.GET.dict()
    backward, _ = follow(root_client, last, "previous_url")
    assert [i for page in backward[::-1] for i in page] == [i for page in forward for i in page]


def test_an_object_filter_searches_that_objects_events(root_client, titles, author, settings):
    settings.PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT = 40
    other = Book.objects.create(title="Other", author=author)
    for index in range(60):
        Book.objects.filter(pk=other.pk).update(price=index)
    params = {"model": "testapp.book", "object": titles.pk, "field": "title"}
    response = root_client.get(URL, params)
    ids = [row.pgh_id for row in response.context["rows"]]
    assert ids == changes("title", Events.objects.tracks(titles))
    assert response.context["search_limit"] is None


def test_without_a_limit_the_whole_history_is_searched(root_client, titles, settings):
    settings.PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT = None
    response = root_client.get(URL, {"field": "title"})
    assert [row.pgh_id for row in response.context["rows"]] == changes("title")
    assert response.context["search_limit"] is None
    assert "pgh-search-limit" not in response.content.decode()


def _export(client, params):
    response = client.get(EXPORT, params)
    assert response.status_code == 200
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    return lines


def test_the_export_searches_as_the_pages_do_and_says_where_it_stopped(
    root_client, titles, settings
):
    settings.PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT = 7
    found, params, notes = [], {"field": "title"}, []
    while True:
        lines = _export(root_client, params)
        assert lines[0][:3] == ["pgh_id", "created_at", "model"]
        last = lines[-1]
        if last and last[0].startswith("# "):
            notes.append(last[0])
            found += [int(line[0]) for line in lines[1:-1]]
            params = {"field": "title", "before": last[0].split("before=")[1].split()[0]}
        else:
            found += [int(line[0]) for line in lines[1:]]
            break
        assert len(notes) < 20
    assert found == changes("title")
    assert notes
    assert notes[0].startswith("# Searched 7 events for changes of title, back to ")
    assert "older events were not searched" in notes[0]
    # The first export holds what the pages show until the first one that says it stopped.
    limit = search_limit(Events.objects.across(BookEvent), start=None, descending=True, events=7)
    first = _export(root_client, {"field": "title"})
    assert [int(line[0]) for line in first[1:-1]] == [
        pgh_id for pgh_id in changes("title") if pgh_id >= limit.pgh_id
    ]
    when = timezone.localtime(limit.created_at).isoformat()
    assert f"back to {when}:" in first[-1][0]


def test_the_export_refuses_a_bad_cursor_of_a_field_search(root_client, titles):
    response = root_client.get(EXPORT, {"field": "title", "before": "x"})
    assert response.status_code == 400
    assert not response.streaming
    assert "This page link is not valid." in response.content.decode()


def test_a_field_of_a_model_the_user_may_not_view_is_a_form_error(viewer_client, titles):
    response = viewer_client.get(URL, {"field": "title"})
    assert response.status_code == 200
    assert "These filters are not valid:" in response.content.decode()
    assert list(response.context["rows"]) == []
    assert response.context["search_limit"] is None
    assert viewer_client.get(EXPORT, {"field": "title"}).status_code == 400


@pytest.mark.parametrize("value", [-1, "50000", 2.5, True])
def test_a_bad_limit_setting_is_named(settings, value):
    settings.PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT = value
    with pytest.raises(ImproperlyConfigured, match="PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT"):
        conf.field_search_limit()


def test_the_limit_setting_defaults_and_switches_off(settings):
    assert conf.field_search_limit() == 50_000
    settings.PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT = 0
    assert conf.field_search_limit() is None
