"""event.revert() and manual events."""

from decimal import Decimal

import pytest

import pghistory_core
from pghistory_core.models import Context
from tests.testapp.models import Author, AuthorEvent, Book, BookEvent, BookPriceEvent

pytestmark = pytest.mark.django_db


def test_revert_restores_values_and_is_recorded(book):
    book.title = "Changed"
    book.price = Decimal("1.00")
    book.save()
    original = BookEvent.objects.filter(pgh_obj=book).earliest("pgh_id")
    with pghistory_core.context(user=9):
        restored = original.revert()
    book.refresh_from_db()
    assert (book.title, book.price) == ("The Dispossessed", Decimal("9.99"))
    assert restored.pk == book.pk
    last = BookEvent.objects.filter(pgh_obj=book).latest("pgh_id")
    assert last.pgh_label == "update"
    assert last.title == "The Dispossessed"
    assert Context.objects.get(pk=last.pgh_context_id).metadata == {
        "user": 9,
        "reverted_event": f"testapp.BookEvent:{original.pk}",
    }


def test_revert_recreates_a_deleted_row(book):
    pk = book.pk
    book.delete()
    deleted = BookEvent.objects.get(pgh_obj_id=pk, pgh_label="delete")
    deleted.revert()
    recreated = Book.objects.get(pk=pk)
    assert recreated.title == "The Dispossessed"
    assert BookEvent.objects.filter(pgh_obj_id=pk).latest("pgh_id").pgh_label == "insert"


def test_revert_of_a_partial_event_model_cannot_recreate(book):
    Book.objects.filter(pk=book.pk).update(price=Decimal("3"))
    price_event = BookPriceEvent.objects.get()
    Book.objects.filter(pk=book.pk).update(price=Decimal("4"))
    with pytest.raises(RuntimeError, match="partial=True"):
        price_event.revert()  # django-pghistory 3.x refuses an event of some fields
    price_event.revert(partial=True)
    book.refresh_from_db()
    assert book.price == Decimal("3")
    book.delete()
    with pytest.raises(ValueError, match="does not track"):
        price_event.revert(partial=True)


def test_create_event_records_database_values_with_context(author):
    with pghistory_core.context(reason="audit"):
        event = pghistory_core.create_event(author, label="snapshot")
    assert isinstance(event, AuthorEvent)
    assert (event.pgh_label, event.name, event.pgh_obj_id) == ("snapshot", "Ursula", author.pk)
    assert event.pgh_context.metadata == {"reason": "audit"}


def test_create_event_needs_a_known_label(author):
    with pytest.raises(ValueError, match="is not a registered tracker label for model"):
        pghistory_core.create_event(author, label="nope")


def test_create_event_for_a_missing_row():
    with pytest.raises(Author.DoesNotExist):
        pghistory_core.create_event(Author(pk=999, name="ghost"), label="snapshot")


def test_revert_of_chosen_fields_keeps_the_others(book):
    book.title = "Changed"
    book.price = Decimal("1.00")
    book.save()
    original = BookEvent.objects.filter(pgh_obj=book).earliest("pgh_id")
    original.revert(fields=["title"])
    book.refresh_from_db()
    assert (book.title, book.price) == ("The Dispossessed", Decimal("1.00"))
    last = BookEvent.objects.filter(pgh_obj=book).latest("pgh_id")
    assert (last.title, last.price) == ("The Dispossessed", Decimal("1.00"))


def test_revert_refuses_fields_the_event_does_not_track(book):
    Book.objects.filter(pk=book.pk).update(price=Decimal("3"))
    price_event = BookPriceEvent.objects.get()
    with pytest.raises(ValueError, match="does not track title"):
        price_event.revert(fields=["title"])


def test_revert_saves_through_the_given_function(book):
    from pghistory_core.revert import revert_event

    book.title = "Changed"
    book.save()
    original = BookEvent.objects.filter(pgh_obj=book).earliest("pgh_id")
    saved = []

    def save(obj, created):
        saved.append((obj.title, created))
        obj.status = "published"  # what a ModelAdmin.save_model may add
        obj.save()

    revert_event(original, save=save)
    book.refresh_from_db()
    assert saved == [("The Dispossessed", False)]
    assert (book.title, book.status) == ("The Dispossessed", "published")
    last = BookEvent.objects.filter(pgh_obj=book).latest("pgh_id")
    assert last.pgh_context.metadata == {"reverted_event": f"testapp.BookEvent:{original.pk}"}
