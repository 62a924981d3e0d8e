import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from pghistory_core.models import Events
from tests.testapp.models import Author, AuthorEvent, Book, BookEvent

pytestmark = pytest.mark.django_db


def revert_url(obj_or_pk, event, model="book"):
    pk = getattr(obj_or_pk, "pk", obj_or_pk)
    return f"/admin/testapp/{model}/{pk}/history/{event.pgh_id}/revert/"


def first_event(model, pk):
    return model.objects.filter(pgh_obj_id=pk).order_by("pgh_id").first()


def test_preview_changes_nothing(root_client, history):
    book = history["book"]
    insert = first_event(BookEvent, book.pk)
    before = Events.objects.count()
    response = root_client.get(revert_url(book, insert))
    assert response.status_code == 200
    changes = {change.name: change for change in response.context["changes"]}
    assert "12.50" in changes["price"].old
    assert "9.99" in changes["price"].new
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()
    assert Events.objects.count() == before
    book.refresh_from_db()
    assert book.title == "The Dispossessed (2nd ed.)"


def test_post_without_csrf_token_is_refused(superuser, history):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    book = history["book"]
    response = client.post(revert_url(book, first_event(BookEvent, book.pk)))
    assert response.status_code == 403
    book.refresh_from_db()
    assert book.title == "The Dispossessed (2nd ed.)"


def test_post_with_csrf_token_reverts(superuser, history):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    book = history["book"]
    url = revert_url(book, first_event(BookEvent, book.pk))
    token = client.get(url).context["csrf_token"]
    response = client.post(url, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    book.refresh_from_db()
    assert book.title == "The Dispossessed"


def test_revert_is_recorded_under_the_user(root_client, superuser, history):
    book = history["book"]
    insert = first_event(BookEvent, book.pk)
    url = revert_url(book, insert)
    response = root_client.post(url, follow=True)
    assert response.redirect_chain[0][0] == f"/admin/testapp/book/{book.pk}/history/"
    assert "was reverted to its version of event" in response.content.decode()
    book.refresh_from_db()
    assert (book.title, str(book.price)) == ("The Dispossessed", "9.99")
    event = Events.objects.tracks(book).filter(pgh_label="update").order_by("-pgh_id").first()
    assert event.pgh_context_metadata["user"] == superuser.pk
    assert event.pgh_context_metadata["url"] == url
    assert event.pgh_context_metadata["reverted_event"] == f"testapp.BookEvent:{insert.pgh_id}"
    # It shows on the timeline, newest first, with the user.
    timeline = response.context["rows"]
    assert timeline[0].pgh_id == event.pgh_id or timeline[1].pgh_id == event.pgh_id
    assert LogEntry.objects.filter(object_id=str(book.pk)).exists()


def test_revert_needs_change_permission(client, make_staff, history):
    viewer = make_staff("bookviewer", "testapp.view_book")
    client.force_login(viewer)
    book = history["book"]
    url = revert_url(book, first_event(BookEvent, book.pk))
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    book.refresh_from_db()
    assert book.title == "The Dispossessed (2nd ed.)"


def test_editor_may_revert(client, make_staff, history):
    editor = make_staff("editor", "testapp.change_book")
    client.force_login(editor)
    book = history["book"]
    assert client.post(revert_url(book, first_event(BookEvent, book.pk))).status_code == 302
    assert (
        "Revert to this version"
        in client.get(f"/admin/testapp/book/{book.pk}/history/").content.decode()
    )


def test_deleted_object_is_restored(root_client, history):
    book = history["book"]
    pk = book.pk
    book.delete()
    delete_event = BookEvent.objects.filter(pgh_obj_id=pk, pgh_label="delete").get()
    url = revert_url(pk, delete_event)
    preview = root_client.get(url)
    assert preview.status_code == 200
    assert "recreates it" in preview.content.decode()
    assert not Book.objects.filter(pk=pk).exists()
    response = root_client.post(url)
    assert response.status_code == 302
    restored = Book.objects.get(pk=pk)
    assert restored.title == "The Dispossessed (2nd ed.)"
    assert LogEntry.objects.filter(object_id=str(pk), action_flag=1).exists()


def test_restore_needs_add_permission(client, make_staff, history):
    client.force_login(make_staff("editor", "testapp.change_book"))
    book = history["book"]
    pk = book.pk
    book.delete()
    delete_event = BookEvent.objects.filter(pgh_obj_id=pk, pgh_label="delete").get()
    assert client.get(revert_url(pk, delete_event)).status_code == 403


def test_partial_event_cannot_restore(root_client, history):
    book = history["book"]
    pk = book.pk
    price_event = Events.objects.tracks(book).filter(pgh_label="price_changed").get()
    book.delete()
    url = revert_url(pk, price_event)
    preview = root_client.get(url)
    assert "cannot recreate the object" in preview.content.decode()
    assert "Yes, restore" not in preview.content.decode()
    response = root_client.post(url)
    assert response.status_code == 400
    assert not Book.objects.filter(pk=pk).exists()


def test_database_errors_are_reported(root_client, author):
    author.delete()
    Author.objects.create(name="Ursula")  # takes the unique name back
    delete_event = AuthorEvent.objects.filter(pgh_label="delete").get()
    response = root_client.post(revert_url(delete_event.pgh_obj_id, delete_event, model="author"))
    assert response.status_code == 400
    assert "could not be reverted" in response.content.decode()


@pytest.mark.parametrize("pgh_id", ["999999", "99999999999999999999"])
def test_unknown_events_are_404(root_client, history, pgh_id):
    book = history["book"]
    assert (
        root_client.get(f"/admin/testapp/book/{book.pk}/history/{pgh_id}/revert/").status_code
        == 404
    )


def test_event_of_another_object_is_404(root_client, history):
    author_event = first_event(AuthorEvent, history["author"].pk)
    assert root_client.get(revert_url(history["book"], author_event)).status_code == 404
