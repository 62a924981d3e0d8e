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


# --- a revert obeys the ModelAdmin ----------------------------------------------------------

RESTRICTED = "/restricted-admin/testapp/book"


@pytest.fixture
def restricted_editor(client, make_staff):
    from tests.testapp.admin import RestrictedBookAdmin

    RestrictedBookAdmin.saved = []
    client.force_login(make_staff("editor", "testapp.change_book", "testapp.add_book"))
    return client


def restricted_url(pk, event):
    return f"{RESTRICTED}/{pk}/history/{event.pgh_id}/revert/"


def test_preview_shows_what_is_reverted_and_what_is_not(restricted_editor, history):
    book = history["book"]
    Book.objects.filter(pk=book.pk).update(status="published")
    response = restricted_editor.get(restricted_url(book.pk, first_event(BookEvent, book.pk)))
    assert response.status_code == 200
    assert [change.name for change in response.context["changes"]] == ["title"]
    refused = {item.change.name: item.reason for item in response.context["refused"]}
    assert refused["price"] == "read-only in this admin"
    assert refused["status"] == "not in this admin's form for you"
    page = response.content.decode()
    assert "read-only in this admin" in page
    assert "are not reverted" in page
    assert "Yes, revert" in page


def test_a_staff_revert_does_not_change_a_read_only_price(restricted_editor, history):
    from tests.testapp.admin import RestrictedBookAdmin

    book = history["book"]
    Book.objects.filter(pk=book.pk).update(status="published")
    response = restricted_editor.post(restricted_url(book.pk, first_event(BookEvent, book.pk)))
    assert response.status_code == 302
    book.refresh_from_db()
    assert book.title == "The Dispossessed"  # reverted
    assert str(book.price) == "12.50"  # read-only: kept
    assert book.status == "published"  # not in the form: kept
    assert RestrictedBookAdmin.saved == [(book.pk, True)]  # through save_model, as a change
    entry = LogEntry.objects.get(object_id=str(book.pk))
    assert entry.is_change()
    assert "Title" in entry.get_change_message()
    assert "Price" not in entry.get_change_message()


def test_the_default_admin_still_reverts_every_field(root_client, history):
    book = history["book"]
    root_client.post(revert_url(book, first_event(BookEvent, book.pk)))
    book.refresh_from_db()
    assert (book.title, str(book.price)) == ("The Dispossessed", "9.99")


def test_object_level_change_permission_is_obeyed(restricted_editor, history):
    book = history["book"]
    Book.objects.filter(pk=book.pk).update(title="Locked")
    url = restricted_url(book.pk, first_event(BookEvent, book.pk))
    assert restricted_editor.get(url).status_code == 403
    assert restricted_editor.post(url).status_code == 403
    book.refresh_from_db()
    assert book.title == "Locked"


def test_reverting_to_the_current_version_changes_nothing(root_client, history):
    book = history["book"]
    latest = BookEvent.objects.filter(pgh_obj_id=book.pk).order_by("-pgh_id").first()
    url = revert_url(book, latest)
    preview = root_client.get(url)
    assert preview.status_code == 200
    assert "reverting would change nothing" in preview.content.decode()
    assert "Yes, revert" not in preview.content.decode()
    events = Events.objects.count()
    response = root_client.post(url, follow=True)
    assert "nothing was reverted" in response.content.decode()
    assert Events.objects.count() == events
    assert not LogEntry.objects.exists()


def test_a_version_that_differs_only_in_read_only_fields_changes_nothing(
    restricted_editor, history
):
    book = history["book"]
    # Only the price differs from the first version now.
    Book.objects.filter(pk=book.pk).update(title="The Dispossessed")
    url = restricted_url(book.pk, first_event(BookEvent, book.pk))
    preview = restricted_editor.get(url)
    assert "reverting would change nothing" in preview.content.decode()
    refused = {item.change.name: item.reason for item in preview.context["refused"]}
    assert refused == {
        "price": "read-only in this admin",
        "updated_at": "set automatically when saved",
    }
    events = Events.objects.count()
    restricted_editor.post(url)
    assert Events.objects.count() == events
    assert not LogEntry.objects.exists()
    book.refresh_from_db()
    assert str(book.price) == "12.50"


def test_a_restore_needing_a_field_the_add_form_refuses_is_refused(restricted_editor, history):
    book = history["book"]
    pk = book.pk
    book.delete()
    delete_event = BookEvent.objects.get(pgh_obj_id=pk, pgh_label="delete")
    url = restricted_url(pk, delete_event)
    preview = restricted_editor.get(url)
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "You may not set" in page
    assert "cannot be restored" in page
    assert "Yes, restore" not in page
    assert restricted_editor.post(url).status_code == 400
    assert not Book.objects.filter(pk=pk).exists()


def test_model_validation_errors_are_reported(root_client, author):
    from tests.testapp.models import Author

    Author.objects.filter(pk=author.pk).update(name="Old")
    Author.objects.filter(pk=author.pk).update(name="Ursula K.")
    Author.objects.create(name="Old")
    rename = AuthorEvent.objects.filter(pgh_obj_id=author.pk, name="Old").get()
    response = root_client.post(revert_url(author.pk, rename, model="author"))
    assert response.status_code == 400
    assert "could not be reverted" in response.content.decode()
    assert "already exists" in response.content.decode()
    author.refresh_from_db()
    assert author.name == "Ursula K."
