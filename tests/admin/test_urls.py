"""``pghistory_admin.urls``: the history pages' patterns, names, site namespaces and guard."""

import pytest
from django.contrib import admin
from django.urls import resolve, reverse

from pghistory_admin.models import AuditLog
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
    assert routes["testapp_book_history_revert"] == "<path:object_id>/history/<int:pgh_id>/revert/"
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
        ("pghistory_admin_auditlog_diff", "<int:pgh_id>/diff/"),
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
