"""``pghistory_admin.views.base``: what every history page shares."""

import pytest
from django.contrib import admin
from django.http import HttpResponse
from django.test import RequestFactory
from django_htmx.middleware import HtmxDetails

from pghistory_admin.views.base import PageMixin, querystring
from pghistory_core.models import Events
from tests.testapp.models import Book


def _request(path="/", htmx=None, **params):
    headers = {}
    if htmx == "swap":
        headers = {"HX-Request": "true"}
    elif htmx == "restore":
        headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    request = RequestFactory().get(path, params, headers=headers)
    request.htmx = HtmxDetails(request)
    return request


class Page(PageMixin):
    template_name = "page.html"
    partial_template_name = "_page.html"
    title = "A page"

    def __init__(self, request, admin_site=admin.site):
        self.request = request
        self.admin_site = admin_site


def test_querystring_applies_changes_and_removes_none():
    request = _request(q="a b", before="10", model="x")
    assert querystring(request, before=None, after=5) == "?q=a+b&model=x&after=5"
    assert querystring(_request(before="3"), before=None) == "?"
    assert querystring(_request(q="x"), q="y") == "?q=y"


def test_partial_only_for_an_htmx_swap():
    assert not Page(_request()).is_partial()
    assert Page(_request(htmx="swap")).is_partial()
    # A history restore needs the whole page.
    assert not Page(_request(htmx="restore")).is_partial()
    assert Page(_request(htmx="swap")).get_template_names() == ["_page.html"]
    assert Page(_request(htmx="restore")).get_template_names() == ["page.html"]


def test_a_page_without_a_partial_always_renders_its_template():
    page = Page(_request(htmx="swap"))
    page.partial_template_name = None
    assert page.get_template_names() == ["page.html"]
    page.template_name = None
    assert page.get_template_names() == []


def test_the_admin_site_is_required():
    with pytest.raises(TypeError, match=r"Page\.as_view\(\) needs admin_site"):
        Page(_request(), admin_site=None).get_admin_site()


@pytest.mark.django_db
def test_admin_context_for_full_pages_only(superuser):
    request = _request()
    request.user = superuser
    context = Page(request).get_admin_context()
    assert context["title"] == "A page"
    assert context["site_header"] == admin.site.site_header
    assert request.current_app == admin.site.name
    partial = _request(htmx="swap")
    partial.user = superuser
    assert Page(partial).get_admin_context() == {}


def test_links_are_built_once_per_request():
    page = Page(_request())
    assert page.get_links() is page.get_links()
    assert page.get_links().admin_site is admin.site


def test_responses_vary_on_the_htmx_header():
    response = Page(_request()).finalize(HttpResponse())
    assert "HX-Request" in response["Vary"]


def test_a_malformed_cursor_gives_an_empty_page_and_says_so():
    page = Page(_request(before="1", after="2"))
    result = page.paginate(Events.objects.all())
    assert result.rows == []
    assert page.cursor_error
    assert page.get_pagination_context(result)["cursor_error"] is True


def test_no_queryset_gives_an_empty_page():
    page = Page(_request())
    assert page.paginate(None).rows == []
    assert not page.cursor_error


@pytest.mark.django_db
def test_pages_link_to_their_neighbours(book):
    for price in ("1.00", "2.00", "3.00", "4.00"):
        Book.objects.filter(pk=book.pk).update(price=price)
    queryset = Events.objects.tracks(book).order_by("-pgh_id")
    ids = list(queryset.values_list("pgh_id", flat=True))
    page = Page(_request(q="x"))
    page.get_page_size = lambda: 2
    first = page.paginate(queryset)
    assert [row.pgh_id for row in first.rows] == ids[:2]
    context = page.get_pagination_context(first)
    assert context["next_url"] == f"?q=x&before={ids[1]}"
    assert context["previous_url"] is None
    assert context["first_url"] == "?q=x"

    second = Page(_request(q="x", before=str(ids[1])))
    second.get_page_size = lambda: 2
    result = second.paginate(queryset)
    assert [row.pgh_id for row in result.rows] == ids[2:4]
    assert second.get_pagination_context(result)["previous_url"] == f"?q=x&after={ids[2]}"
