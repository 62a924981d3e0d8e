"""What the pages say: the diff page's heading and breadcrumbs, users in the request view, and
deleted objects named after their last recorded values."""

import re

import pytest

import pghistory_core
from pghistory_admin.labels import last_labels
from pghistory_core.models import Events
from tests.testapp.models import Author, Book, BookTag, Tag

pytestmark = pytest.mark.django_db

AUDIT_LOG = "/admin/pghistory_admin/auditlog/"


def newest(obj, label=None):
    events = Events.objects.tracks(obj).order_by("-pgh_id")
    if label:
        events = events.filter(pgh_label=label)
    return events.first()


def heading(html):
    return re.search(r"<h1>(.*?)</h1>", html, re.S).group(1).strip()


def breadcrumbs(html):
    block = re.search(r'<div class="breadcrumbs">(.*?)</div>', html, re.S).group(1)
    return [" ".join(re.sub(r"<[^>]+>", "", part).split()) for part in block.split("&rsaquo;")]


def test_diff_page_heading_says_what_happened(root_client, history):
    book = history["book"]
    html = root_client.get(f"{AUDIT_LOG}{newest(book).pgh_id}/diff/").content.decode()
    assert heading(html) == "Book “The Dispossessed (2nd ed.)” was updated"
    created = root_client.get(f"{AUDIT_LOG}{newest(book, 'insert').pgh_id}/diff/")
    assert heading(created.content.decode()) == "Book “The Dispossessed (2nd ed.)” was created"
    author = history["author"]
    pghistory_core.create_event(author, label="snapshot")
    snapshot = root_client.get(f"{AUDIT_LOG}{newest(author).pgh_id}/diff/").content.decode()
    assert heading(snapshot) == "Author “Ursula”: snapshot"
    assert " of " not in heading(html)


def test_diff_page_breadcrumbs_have_the_history_step(root_client, history):
    event = newest(history["book"])
    html = root_client.get(f"{AUDIT_LOG}{event.pgh_id}/diff/").content.decode()
    assert breadcrumbs(html) == ["Home", "History", "Audit log", f"Event #{event.pgh_id}"]
    assert '<a href="/admin/pghistory_admin/">History</a>' in html
    # The audit log's own breadcrumbs, for comparison.
    assert breadcrumbs(root_client.get(AUDIT_LOG).content.decode()) == [
        "Home",
        "History",
        "Audit log",
    ]


def test_request_view_names_an_anonymous_user(root_client, book):
    with pghistory_core.context(user=None, url="/shop/cart/"):
        Book.objects.filter(pk=book.pk).update(title="Anonymous edit")
    context_id = newest(book).pgh_context_id
    html = root_client.get(AUDIT_LOG, {"context_id": str(context_id)}).content.decode()
    panel = re.search(r'<section class="module pgh-context".*?</section>', html, re.S).group(0)
    assert "<dt>user</dt><dd>anonymous (not logged in)</dd>" in panel
    assert "None" not in panel
    assert "<code>/shop/cart/</code>" in panel


def test_request_view_names_and_links_the_user(root_client, superuser, history):
    context_id = newest(history["book"]).pgh_context_id
    html = root_client.get(AUDIT_LOG, {"context_id": str(context_id)}).content.decode()
    assert (
        f'<dt>user</dt><dd><a href="/admin/auth/user/{superuser.pk}/change/">root</a></dd>' in html
    )
    superuser_pk = superuser.pk
    with pghistory_core.context(user=superuser_pk + 1000, url="/gone/"):
        Book.objects.filter(pk=history["book"].pk).update(title="By a deleted user")
    context_id = newest(history["book"]).pgh_context_id
    html = root_client.get(AUDIT_LOG, {"context_id": str(context_id)}).content.decode()
    assert f"<dt>user</dt><dd>deleted user #{superuser_pk + 1000}</dd>" in html


def test_deleted_object_is_named_after_its_last_values(root_client, history):
    book = history["book"]
    pk = book.pk
    book.delete()
    response = root_client.get(AUDIT_LOG, {"model": "testapp.book"})
    html = response.content.decode()
    assert f"#{pk} " not in html
    assert (
        f'<a href="/admin/testapp/book/{pk}/history/">The Dispossessed (2nd ed.) '
        '<span class="pgh-deleted">(deleted)</span></a>'
    ) in html
    rows = response.context["rows"]
    assert {row.object_label for row in rows} == {"The Dispossessed (2nd ed.)"}
    assert {row.object_exists for row in rows} == {False}
    deletion = newest(Book(pk=pk), "delete")
    diff_page = root_client.get(f"{AUDIT_LOG}{deletion.pgh_id}/diff/").content.decode()
    assert heading(diff_page) == "Book “The Dispossessed (2nd ed.)” was deleted"


def test_last_labels_takes_the_newest_event_and_skips_objects_without_history(book):
    book.title = "Renamed once"
    book.save()
    book.title = "Renamed twice"
    book.save()
    pk = book.pk
    book.delete()
    tag = Tag.objects.create(name="untracked")
    assert last_labels(Book, [pk, pk + 100]) == {pk: "Renamed twice"}
    # A model whose str() needs more than the recorded values falls back to nothing.
    author = Author.objects.create(name="Le Guin")
    link = BookTag.objects.create(book=Book.objects.create(title="x", author=author), tag=tag)
    link_pk = link.pk
    link.delete()
    assert last_labels(BookTag, [link_pk]) == {link_pk: f"BookTag object ({link_pk})"}
