"""``AdminLinks``: which history pages exist on a site, and which the user may open."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from pghistory_admin.admin import HistoryAdminMixin
from pghistory_admin.links import AdminLinks
from tests.testapp.admin import custom_site
from tests.testapp.models import Author, Book, Code, Gadget, Tag

pytestmark = pytest.mark.django_db


def _links(user, site=admin.site):
    request = RequestFactory().get("/")
    request.user = user
    return AdminLinks(site, request)


def test_reverse_in_the_site_namespace(superuser):
    assert _links(superuser).reverse("testapp_book_changelist") == "/admin/testapp/book/"
    custom = _links(superuser, custom_site)
    assert custom.reverse("testapp_book_changelist") == "/custom-admin/testapp/book/"


def test_reverse_of_a_missing_page_is_none(superuser):
    assert _links(superuser).reverse("testapp_gadget_changelist") is None  # not registered


def test_query_leaves_out_empty_values(superuser):
    url = _links(superuser).reverse(
        "testapp_book_changelist", query={"q": "a b", "empty": "", "none": None, "zero": 0}
    )
    assert url == "/admin/testapp/book/?q=a+b&zero=0"


def test_change_link_needs_permission_and_a_pk(superuser, make_staff, book):
    assert _links(superuser).change(Book, book.pk) == f"/admin/testapp/book/{book.pk}/change/"
    assert _links(superuser).change(Book, None) is None
    authors_only = make_staff("authors", "testapp.view_author")
    assert _links(authors_only).change(Book, book.pk) is None
    assert _links(authors_only).change(Author, book.author_id) is not None
    assert _links(superuser).change(Gadget, 1) is None  # no admin for it


def test_keys_are_quoted_as_the_admin_quotes_them(superuser):
    code = Code.objects.create(code="a/b_c")
    assert _links(superuser).change(Code, code.pk) == "/admin/testapp/code/a_2Fb_5Fc/change/"
    assert _links(superuser).history(Code, code.pk) == "/admin/testapp/code/a_2Fb_5Fc/history/"


def test_history_pages_only_where_the_admin_has_the_mixin(superuser, book):
    links = _links(superuser)
    assert links.has_history_admin(Book)
    assert not links.has_history_admin(Tag)  # registered without HistoryAdminMixin
    assert links.history(Tag, 1) is None
    assert links.history(Book, book.pk, label="update") == (
        f"/admin/testapp/book/{book.pk}/history/?label=update"
    )
    assert links.object_history("blame", Book, book.pk) == (
        f"/admin/testapp/book/{book.pk}/history/blame/"
    )
    assert links.object_history("no_such_page", Book, book.pk) is None


def test_a_history_admin_is_recognised_by_its_marker_not_its_class(superuser):
    """``has_history_admin`` is duck typing: ``pghistory_admin = True`` on the ``ModelAdmin``."""

    class MarkedAdmin(admin.ModelAdmin):  # no HistoryAdminMixin
        pghistory_admin = True

    class UnmarkedAdmin(HistoryAdminMixin, admin.ModelAdmin):
        pghistory_admin = False

    class TruthyAdmin(admin.ModelAdmin):
        pghistory_admin = "yes"  # only True counts

    site = admin.AdminSite(name="marked")
    site.register(Book, MarkedAdmin)
    site.register(Author, UnmarkedAdmin)
    site.register(Code, TruthyAdmin)
    links = _links(superuser, site)
    assert links.has_history_admin(Book)
    assert not links.has_history_admin(Author)
    assert not links.has_history_admin(Code)
    assert not links.has_history_admin(Tag)  # not registered on this site
    assert HistoryAdminMixin.pghistory_admin is True


def test_without_a_request_only_pages_needing_no_permission_are_linked(book):
    links = AdminLinks(admin.site, None)
    assert links.history(Book, book.pk) == f"/admin/testapp/book/{book.pk}/history/"
    assert links.change(Book, book.pk) is None
    assert not links.may_view(Book)


def test_audit_log_only_on_sites_that_register_it(superuser):
    assert _links(superuser, custom_site).audit_log() == "/custom-admin/pghistory_admin/auditlog/"
    assert _links(superuser, custom_site).audit_log(user=3) == (
        "/custom-admin/pghistory_admin/auditlog/?user=3"
    )
    bare = admin.AdminSite(name="bare")
    assert _links(superuser, bare).audit_log() is None


def test_permission_answers_are_cached_per_request(make_staff, book):
    links = _links(make_staff("viewer", "testapp.view_book"))
    assert links.may_view(Book)
    assert not links.may_view(Author)
    links.change(Book, book.pk)
    with CaptureQueriesContext(connection) as captured:
        for _ in range(3):
            assert links.may_view(Book)
            assert not links.may_view(Author)
            assert links.change(Book, book.pk) is not None
    assert captured.captured_queries == []
