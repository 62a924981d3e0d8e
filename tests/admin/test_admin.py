import pytest
from django.contrib import admin
from django.urls import reverse

from pghistory_admin import AuditLog, AuditLogAdmin, HistoryAdminMixin, viewable_event_models
from pghistory_core.models import Events
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db

AUDIT_LOG = "/admin/pghistory_admin/auditlog/"


def test_public_api_is_reexported():
    import pghistory_admin
    from pghistory_admin import admin as admin_module
    from pghistory_admin import permissions

    assert pghistory_admin.HistoryAdminMixin is admin_module.HistoryAdminMixin
    assert viewable_event_models is permissions.viewable_event_models
    assert set(pghistory_admin.__all__) == {
        "AuditLog",
        "AuditLogAdmin",
        "HistoryAdminMixin",
        "viewable_event_models",
    }
    with pytest.raises(AttributeError):
        pghistory_admin.nothing  # noqa: B018


def test_history_button_opens_the_timeline(root_client, history):
    book = history["book"]
    url = reverse("admin:testapp_book_history", args=[book.pk])
    assert url == f"/admin/testapp/book/{book.pk}/history/"
    change_form = root_client.get(f"/admin/testapp/book/{book.pk}/change/").content.decode()
    assert f'href="{url}"' in change_form
    response = root_client.get(url)
    assert "pghistory_admin/object_history.html" in [t.name for t in response.templates]


def test_per_object_url_names():
    assert (
        reverse("admin:testapp_book_history_compare", args=["1"])
        == "/admin/testapp/book/1/history/compare/"
    )
    assert (
        reverse("admin:testapp_book_history_export", args=["1"])
        == "/admin/testapp/book/1/history/export/"
    )
    assert (
        reverse("admin:testapp_book_history_revert", args=["1", 5])
        == "/admin/testapp/book/1/history/5/revert/"
    )
    assert reverse("admin:pghistory_admin_auditlog_changelist") == AUDIT_LOG
    assert reverse("admin:pghistory_admin_auditlog_export") == AUDIT_LOG + "export/"
    assert reverse("admin:pghistory_admin_auditlog_diff", args=[3]) == AUDIT_LOG + "3/diff/"


def test_the_admins_own_urls_still_work(root_client, history):
    book = history["book"]
    assert root_client.get(f"/admin/testapp/book/{book.pk}/change/").status_code == 200
    assert root_client.get(f"/admin/testapp/book/{book.pk}/").status_code == 302


def test_change_list_links_to_the_models_history(root_client, history):
    html = root_client.get("/admin/testapp/book/").content.decode()
    assert f'href="{AUDIT_LOG}?model=testapp.book"' in html
    assert 'class="historylink"' in html
    # The admin's own object tools are kept (the add button).
    assert "/admin/testapp/book/add/" in html
    # history_link in list_display: one link per row.
    assert f'href="/admin/testapp/book/{history["book"].pk}/history/"' in html


def test_audit_log_is_on_the_index(root_client, db):
    html = root_client.get("/admin/").content.decode()
    assert f'href="{AUDIT_LOG}"' in html
    assert "Audit log" in html
    assert f"{AUDIT_LOG}add/" not in html


def test_audit_log_is_hidden_from_staff_without_permissions(client, make_staff):
    client.force_login(make_staff("nobody"))
    assert AUDIT_LOG not in client.get("/admin/").content.decode()
    assert client.get(AUDIT_LOG).status_code == 403
    assert client.get(AUDIT_LOG + "export/").status_code == 403
    assert client.get(AUDIT_LOG + "1/diff/").status_code == 403


def test_audit_log_admin_is_read_only(rf, superuser):
    request = rf.get("/")
    request.user = superuser
    model_admin = admin.site.get_model_admin(AuditLog)
    assert isinstance(model_admin, AuditLogAdmin)
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.changelist_view(request).status_code == 200


def test_author_viewer_sees_no_book_events_anywhere(viewer_client, history):
    book, author = history["book"], history["author"]
    # Index: the audit log is there, Book is not.
    index = viewer_client.get("/admin/").content.decode()
    assert AUDIT_LOG in index
    assert "/admin/testapp/book/" not in index
    # Audit log: only Author events, only Author in the model filter.
    response = viewer_client.get(AUDIT_LOG)
    assert {row.event.pgh_obj_model for row in response.context["rows"]} == {"testapp.Author"}
    choices = [
        value for value, _ in response.context["filter"].form.fields["model"].choices if value
    ]
    assert choices == ["testapp.author"]
    assert "The Dispossessed" not in response.content.decode()
    field_choices = {value for value, _ in response.context["filter"].form.fields["field"].choices}
    assert "price" not in field_choices
    # Asking for books is a form error, not a leak.
    assert viewer_client.get(AUDIT_LOG, {"model": "testapp.book"}).context["rows"] == []
    # Book history, diff, export: refused or empty.
    assert viewer_client.get(f"/admin/testapp/book/{book.pk}/history/").status_code == 403
    book_event = Events.objects.filter(pgh_obj_model="testapp.Book").first()
    assert viewer_client.get(f"{AUDIT_LOG}{book_event.pgh_id}/diff/").status_code == 404
    export = b"".join(viewer_client.get(AUDIT_LOG + "export/").streaming_content).decode()
    assert "testapp.Book" not in export
    assert "testapp.Author" in export
    # Author history works.
    assert viewer_client.get(f"/admin/testapp/author/{author.pk}/history/").status_code == 200


def test_custom_admin_site(client, superuser, history):
    client.force_login(superuser)
    index = client.get("/custom-admin/").content.decode()
    assert 'href="/custom-admin/pghistory_admin/auditlog/"' in index
    response = client.get("/custom-admin/pghistory_admin/auditlog/")
    assert response.status_code == 200
    html = response.content.decode()
    # Links stay on the custom site.
    assert f'href="/custom-admin/testapp/book/{history["book"].pk}/history/"' in html
    assert f'href="/custom-admin/auth/user/{superuser.pk}/change/"' in html
    assert 'href="/admin/' not in html
    assert "Custom admin" in html
    timeline = client.get(f"/custom-admin/testapp/book/{history['book'].pk}/history/")
    assert timeline.status_code == 200
    assert 'href="/custom-admin/pghistory_admin/auditlog/?context_id=' in timeline.content.decode()


def test_models_without_the_mixin_link_to_the_filtered_audit_log(client, superuser, db):
    from tests.testapp.models import Counter

    client.force_login(superuser)
    # Counter is not registered on the custom site.
    counter = Counter.objects.create(value=1)
    html = client.get("/custom-admin/pghistory_admin/auditlog/").content.decode()
    assert f"?model=testapp.counter&amp;object={counter.pk}" in html


def test_mixin_works_on_any_model_admin():
    assert issubclass(type(admin.site.get_model_admin(Author)), HistoryAdminMixin)
    assert issubclass(type(admin.site.get_model_admin(Book)), HistoryAdminMixin)


def test_static_files_are_shipped(root_client, history):
    from django.contrib.staticfiles import finders

    htmx_path = finders.find("pghistory_admin/htmx.min.js")
    assert htmx_path
    with open(htmx_path, encoding="utf-8") as file:
        assert "htmx" in file.read(200)
    assert finders.find("pghistory_admin/pghistory_admin.js")
    assert finders.find("pghistory_admin/pghistory_admin.css")
    html = root_client.get(AUDIT_LOG).content.decode()
    assert 'src="/static/pghistory_admin/htmx.min.js"' in html
    assert 'src="/static/pghistory_admin/pghistory_admin.js"' in html
    assert 'href="/static/pghistory_admin/pghistory_admin.css"' in html
