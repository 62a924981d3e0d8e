"""The blame page of an object's history."""

import pytest
from django.test import override_settings

import pghistory_core
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db


def blame_url(pk, model="book"):
    return f"/admin/testapp/{model}/{pk}/history/blame/"


def lines(response):
    return {line.name: line for line in response.context["lines"]}


def test_each_field_with_who_and_via_what(root_client, superuser, history):
    book = history["book"]
    response = root_client.get(blame_url(book.pk))
    assert response.status_code == 200
    by_name = lines(response)
    title = by_name["title"]
    assert "The Dispossessed (2nd ed.)" in title.value
    assert title.row.user_label == "root"
    assert title.row.source == "/admin/testapp/book/1/change/"
    assert title.row.diff_url == f"/admin/pghistory_admin/auditlog/{title.row.pgh_id}/diff/"
    assert by_name["status"].note == "unchanged since creation"
    assert "Ursula" in by_name["author"].value  # the target's label
    html = response.content.decode()
    assert f'href="/admin/pghistory_admin/auditlog/{title.row.pgh_id}/diff/"' in html
    assert "<code>/admin/testapp/book/1/change/</code>" in html


def test_the_history_page_links_to_it(root_client, history):
    book = history["book"]
    html = root_client.get(f"/admin/testapp/book/{book.pk}/history/").content.decode()
    assert f'href="{blame_url(book.pk)}"' in html
    assert f'action="/admin/testapp/book/{book.pk}/history/as-of/"' in html


def test_deleted_object(root_client, history):
    book = history["book"]
    pk = book.pk
    book.delete()
    response = root_client.get(blame_url(pk))
    assert response.status_code == 200
    assert "has been deleted" in response.content.decode()
    assert "The Dispossessed (2nd ed.)" in lines(response)["title"].value


def test_unknown_and_malformed_ids(root_client, history):
    assert root_client.get(blame_url(98765)).status_code == 404
    assert root_client.get(blame_url("not-a-number")).status_code == 404


def test_needs_permission_on_the_model(viewer_client, history):
    # The viewer may view authors only.
    assert viewer_client.get(blame_url(history["book"].pk)).status_code == 403
    assert viewer_client.get(blame_url(history["author"].pk, "author")).status_code == 200


def test_foreign_keys_to_models_the_user_may_not_view_show_a_bare_id(client, make_staff, history):
    client.force_login(make_staff("books", "testapp.view_book"))
    book = history["book"]
    response = client.get(blame_url(book.pk))
    author = lines(response)["author"]
    assert "Ursula" not in author.value
    assert f"#{book.author_id}" in author.value
    assert "Ursula" not in response.content.decode()


@override_settings(PGHISTORY_ADMIN_SECRET_FIELDS=["email"])
def test_secret_fields_are_masked(root_client, history):
    author = history["author"]
    response = root_client.get(blame_url(author.pk, "author"))
    assert "ursula@le-guin.example" not in response.content.decode()
    assert "pgh-secret" in lines(response)["email"].value


def test_values_are_escaped(root_client, author):
    with pghistory_core.context(url="/x?<script>"):
        Author.objects.filter(pk=author.pk).update(name="<script>alert(1)</script>")
    html = root_client.get(blame_url(author.pk, "author")).content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "/x?&lt;script&gt;" in html


def test_several_editors(root_client, superuser, make_staff, book):
    bob = make_staff("bob", "testapp.change_book")
    with pghistory_core.context(user=superuser.pk, url="/a"):
        Book.objects.filter(pk=book.pk).update(title="By root")
    with pghistory_core.context(user=bob.pk, url="/b"):
        Book.objects.filter(pk=book.pk).update(price="3.00")
    by_name = lines(root_client.get(blame_url(book.pk)))
    assert by_name["title"].row.user_label == "root"
    assert by_name["price"].row.user_label == "bob"
