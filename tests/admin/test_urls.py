"""``pghistory_admin.urls``: the history pages' patterns, names, site namespaces and guard."""

import pytest
from django.contrib import admin
from django.http import Http404
from django.test import Client
from django.urls import resolve, reverse

from pghistory_admin.converters import EventIdConverter
from pghistory_admin.models import AuditLog
from pghistory_admin.pagination import MAX_ID
from pghistory_admin.urls import audit_log_urls, object_history_urls
from pghistory_admin.views.blame import BlameView
from tests.testapp.admin import BookAdmin, custom_site
from tests.testapp.models import Book

SUFFIXES = ["history", "history_compare", "history_export", "history_revert", "history_blame"]


def test_object_history_patterns_and_names():
    patterns = object_history_urls(BookAdmin(Book, admin.site))
    names = [p.name for p in patterns]
    assert names == [f"testapp_book_{s}" for s in SUFFIXES] + ["testapp_book_history_as_of"]
    routes = {p.name: str(p.pattern) for p in patterns}
    assert routes["testapp_book_history"] == "<path:object_id>/history/"
    assert routes["testapp_book_history_revert"] == (
        "<path:object_id>/history/<pgh_id:pgh_id>/revert/"
    )
    assert routes["testapp_book_history_as_of"] == "<path:object_id>/history/as-of/"
    assert all(p.callback.model_admin.model is Book for p in patterns)


def test_a_model_admin_chooses_its_view_classes():
    class LoudBlame(BlameView):
        pass

    class LoudBookAdmin(BookAdmin):
        history_blame_view_class = LoudBlame

    patterns = object_history_urls(LoudBookAdmin(Book, admin.site))
    [blame] = [p for p in patterns if p.name == "testapp_book_history_blame"]
    assert blame.callback.view_class is LoudBlame


def test_audit_log_patterns():
    patterns = audit_log_urls(custom_site.get_model_admin(AuditLog))
    assert [(p.name, str(p.pattern)) for p in patterns] == [
        ("pghistory_admin_auditlog_changelist", ""),
        ("pghistory_admin_auditlog_export", "export/"),
        ("pghistory_admin_auditlog_diff", "<pgh_id:pgh_id>/diff/"),
    ]


def test_pages_live_in_their_sites_namespace():
    default = reverse("admin:testapp_book_history_blame", args=["7"])
    custom = reverse("custom:testapp_book_history_blame", args=["7"])
    assert default == "/admin/testapp/book/7/history/blame/"
    assert custom == "/custom-admin/testapp/book/7/history/blame/"
    assert resolve(custom).namespace == "custom"
    assert resolve(custom).func.model_admin.admin_site is custom_site


@pytest.mark.django_db
@pytest.mark.parametrize("suffix", ["", "blame/", "as-of/", "compare/", "export/"])
def test_staff_only(client, make_staff, suffix):
    url = f"/admin/testapp/book/1/history/{suffix}"
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    # An htmx request whose session is gone is sent to the login page as a whole.
    htmx = client.get(url, HTTP_HX_REQUEST="true")
    assert htmx["HX-Redirect"].startswith("/admin/login/")
    client.force_login(make_staff("not_staff", is_staff=False))
    assert client.get(url).status_code == 302


def test_event_ids_are_bigints_above_zero():
    converter = EventIdConverter()
    assert converter.to_python("1") == 1
    assert converter.to_python("007") == 7
    assert converter.to_python(str(MAX_ID)) == MAX_ID
    for value in ["0", "000", str(MAX_ID + 1), "9" * 20, "9" * 5000]:
        with pytest.raises(Http404):
            converter.to_python(value)
    assert converter.to_url(42) == "42"
    resolved = resolve(f"/admin/pghistory_admin/auditlog/{MAX_ID}/diff/")
    assert resolved.kwargs == {"pgh_id": MAX_ID}
    assert resolve("/admin/testapp/book/3/history/12/revert/").kwargs == {
        "object_id": "3",
        "pgh_id": 12,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/admin/pghistory_admin/auditlog/0/diff/",
        f"/admin/pghistory_admin/auditlog/{MAX_ID + 1}/diff/",
        "/admin/testapp/book/1/history/0/revert/",
        f"/admin/testapp/book/1/history/{MAX_ID + 1}/revert/",
    ],
)
def test_event_ids_out_of_range_are_404_before_any_view(root_client, url):
    # Not even the login page: the URL names no page (and not the ModelAdmin's catch-all).
    assert Client().get(url).status_code == 404
    assert root_client.get(url).status_code == 404
    assert root_client.post(url).status_code == 404
