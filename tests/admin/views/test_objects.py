import csv
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import pghistory_core
from pghistory_core.models import Events
from tests.admin.helpers import TIMEOUT_QUERIES, book_updates, htmx, template_names
from tests.testapp.models import Author, Book, Code, Document, Restaurant

pytestmark = pytest.mark.django_db


def history_url(obj):
    return f"/admin/testapp/{obj._meta.model_name}/{obj.pk}/history/"


def rows(response):
    return list(response.context["rows"])


def test_timeline_full_page(root_client, history, superuser):
    book = history["book"]
    response = root_client.get(history_url(book))
    assert response.status_code == 200
    assert "pghistory_admin/object_history.html" in template_names(response)
    html = response.content.decode()
    assert "<html" in html
    assert "History: The Dispossessed (2nd ed.)" in html
    # Newest first; the first event shows the initial values.
    labels = [row.event.pgh_label for row in rows(response)]
    assert labels == ["update", "price_changed", "insert"]
    first = rows(response)[-1]
    assert first.initial
    assert {change.name for change in first.changes} >= {"title", "author", "price", "status"}
    assert "Initial values" in html
    # The update: who, where, what changed (old → new).
    update = rows(response)[0]
    assert update.user == superuser
    assert f'href="/admin/auth/user/{superuser.pk}/change/"' in html
    assert "/admin/testapp/book/1/change/" in html
    changes = {change.name: change for change in update.changes}
    assert "9.99" in changes["price"].old
    assert "12.50" in changes["price"].new
    assert "Ursula" in str(first.changes)  # foreign key shown by its label


def test_timeline_partial_for_htmx(root_client, history):
    response = htmx(root_client, history_url(history["book"]))
    assert response.status_code == 200
    names = template_names(response)
    assert "pghistory_admin/_timeline_page.html" in names
    assert "pghistory_admin/object_history.html" not in names
    assert "<html" not in response.content.decode()
    assert 'class="pgh-timeline"' in response.content.decode()


def test_timeline_is_not_kept_in_the_htmx_history_cache(root_client, history):
    # Paging back asks the server instead of restoring a snapshot from sessionStorage.
    html = root_client.get(history_url(history["book"])).content.decode()
    assert re.search(r'<div id="pgh-results"[^>]*\shx-history="false"', html)


def test_timeline_keyset_pages(root_client, book, settings):
    settings.PGHISTORY_ADMIN_PAGE_SIZE = 4
    book_updates(book, 9)
    response = root_client.get(history_url(book))
    ids = [row.pgh_id for row in rows(response)]
    assert len(ids) == 4
    older = root_client.get(history_url(book) + response.context["next_url"])
    older_ids = [row.pgh_id for row in rows(older)]
    assert len(older_ids) == 4
    assert max(older_ids) < min(ids)
    assert 'hx-target="#pgh-results"' in older.content.decode()


def test_bad_cursor_on_timeline(root_client, history):
    response = root_client.get(history_url(history["book"]), {"before": "1e400"})
    assert response.status_code == 200
    assert rows(response) == []
    assert "This page link is not valid." in response.content.decode()


def test_deleted_object_keeps_its_history(root_client, history):
    book = history["book"]
    pk = book.pk
    book.delete()
    response = root_client.get(f"/admin/testapp/book/{pk}/history/")
    assert response.status_code == 200
    html = response.content.decode()
    # Named after its last recorded values, not "Book #1".
    assert "History: The Dispossessed (2nd ed.) (deleted)" in html
    assert "This object has been deleted" in html
    deletion = rows(response)[0]
    assert deletion.event.pgh_label == "delete"
    assert deletion.unchanged
    # A deletion shows the values the object had.
    assert "Values when deleted" in html
    assert {change.name for change in deletion.changes} >= {"title", "price"}
    assert "Restore this version" in html


def test_object_that_never_existed_has_an_empty_history(root_client, db):
    response = root_client.get("/admin/testapp/book/424242/history/")
    assert response.status_code == 200
    assert "No history has been recorded for this object." in response.content.decode()


@pytest.mark.parametrize("object_id", ["abc", "99999999999", "-", "1%20OR%201=1"])
def test_invalid_object_ids_are_404(root_client, db, object_id):
    assert root_client.get(f"/admin/testapp/book/{object_id}/history/").status_code == 404


def test_other_id_types(root_client, db):
    code = Code.objects.create(code="a/b", value=1)
    response = root_client.get("/admin/testapp/code/a_2Fb/history/")
    assert response.status_code == 200
    assert [row.event.pgh_label for row in rows(response)] == ["insert"]
    document = Document.objects.create(body="Hello")
    response = root_client.get(history_url(document))
    assert [row.event.pgh_label for row in rows(response)] == ["insert"]
    assert root_client.get("/admin/testapp/document/not-a-uuid/history/").status_code == 404
    restaurant = Restaurant.objects.create(name="Chez", serves_pizza=True)
    response = root_client.get(history_url(restaurant))
    assert [row.event.pgh_label for row in rows(response)] == ["insert"]
    assert code.pk == "a/b"


def test_forbidden_models_are_403(viewer_client, history):
    assert viewer_client.get(history_url(history["book"])).status_code == 403
    assert viewer_client.get(history_url(history["book"]) + "export/").status_code == 403
    assert viewer_client.get(history_url(history["author"])).status_code == 200


def test_viewer_cannot_revert(viewer_client, history):
    response = viewer_client.get(history_url(history["author"]))
    assert "Revert to this version" not in response.content.decode()


def test_anonymous_and_non_staff_are_sent_to_login(client, history, make_staff):
    url = history_url(history["book"])
    assert client.get(url).status_code == 302
    client.force_login(make_staff("outsider", "testapp.view_book", is_staff=False))
    response = client.get(url)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_hidden_rows_are_404(root_client, history, monkeypatch):
    from django.contrib import admin

    from tests.testapp.models import Book

    model_admin = admin.site.get_model_admin(Book)
    monkeypatch.setattr(model_admin, "get_queryset", lambda request: Book.objects.none())
    assert root_client.get(history_url(history["book"])).status_code == 404


def test_export_of_one_object(root_client, history):
    response = root_client.get(history_url(history["book"]) + "export/")
    assert response.status_code == 200
    assert "testapp.book-" in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {line[2] for line in lines[1:]} == {"testapp.Book"}
    assert len(lines) == 4


def test_export_of_a_char_id_has_a_safe_filename(root_client, db):
    Code.objects.create(code='x"y', value=1)
    response = root_client.get("/admin/testapp/code/x%22y/history/export/")
    assert response.status_code == 200
    assert '"' not in response["Content-Disposition"].split("filename=")[1].strip('"')


def test_extra_context_reaches_the_template(rf, superuser, history):
    from django.contrib import admin

    from tests.testapp.models import Book

    request = rf.get("/")
    request.user = superuser
    request.htmx = False
    response = admin.site.get_model_admin(Book).history_view(
        request, str(history["book"].pk), extra_context={"title": "Custom"}
    )
    assert response.context_data["title"] == "Custom"


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def reassign(book, count, authors, user):
    """``count`` updates of ``book`` moving it between ``authors`` (foreign key labels to fetch)."""
    for index in range(count):
        with pghistory_core.context(user=user.pk, url=f"/edit/{index}"):
            Book.objects.filter(pk=book.pk).update(
                author=authors[index % len(authors)], title=f"Title {index}"
            )


@pytest.mark.parametrize("as_superuser", [True, False])
def test_query_count_does_not_grow_with_history(
    client, book, superuser, make_staff, django_assert_max_num_queries, as_superuser
):
    # session, user, (2 permission queries), object, one page of events, users, authors' labels
    expected = (6 if as_superuser else 8) + TIMEOUT_QUERIES
    client.force_login(superuser if as_superuser else make_staff("editor", "testapp.change_book"))
    authors = [Author.objects.create(name=f"Author {i}") for i in range(3)]
    reassign(book, 5, authors, superuser)
    with django_assert_max_num_queries(expected):
        small = client.get(history_url(book))
    reassign(book, 60, authors, superuser)
    assert Events.objects.tracks(book).count() > 60
    with django_assert_max_num_queries(expected):
        big = client.get(history_url(book))
    assert count_queries(client, history_url(book)) == count_queries(
        client, history_url(book) + big.context["next_url"]
    )
    assert len(rows(big)) == 50 > len(rows(small))
