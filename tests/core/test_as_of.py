"""An object as of any moment, on a real Postgres."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

import pghistory_core
from tests.core.moments import at
from tests.testapp.models import Author, Book, BookEvent, BookTag, Tag, Ticket

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)


def t(hours):
    return T0 + timedelta(hours=hours)


@pytest.fixture
def timeline():
    """An author and a book: created at t(0), edited at t(1) and t(2), author renamed at t(1)."""
    with at(t(0)):
        author = Author.objects.create(name="Ursula")
        book = Book.objects.create(title="Draft", author=author, price="5.00")
    with at(t(1)):
        Book.objects.filter(pk=book.pk).update(title="Second", price="6.00")
        Author.objects.filter(pk=author.pk).update(name="Ursula K.")
    with at(t(2)):
        Book.objects.filter(pk=book.pk).update(title="Final")
    return book


def test_values_at_each_moment(timeline):
    assert pghistory_core.as_of(timeline, t(0)).title == "Draft"
    middle = pghistory_core.as_of(Book, timeline.pk, t(1.5))
    assert (middle.title, middle.price) == ("Second", Decimal("6.00"))
    assert pghistory_core.as_of(Book, str(timeline.pk), t(1)).title == "Second"  # at, inclusive
    assert pghistory_core.as_of(timeline, t(9)).title == "Final"


def test_an_unsaved_instance_that_says_where_it_comes_from(timeline):
    past = pghistory_core.as_of(timeline, t(1.5))
    assert past._state.adding
    assert past.pk == timeline.pk
    state = past.pgh_as_of
    assert state.when == t(1.5)
    assert state.pgh_created_at == t(1)
    assert state.pgh_label == "update"
    assert state.sources["title"] == state.revert_pgh_id
    assert state.unknown == []
    event = BookEvent.objects.get(pgh_id=state.revert_pgh_id)
    assert event.title == "Second"


def test_related_objects_as_they_were(timeline):
    before = pghistory_core.as_of(timeline, t(0.5))
    with CaptureQueriesContext(connection) as captured:
        assert before.author.name == "Ursula"  # cached: no query
    assert not captured.captured_queries
    assert before.pgh_as_of.related["author"].state == "as_of"
    assert pghistory_core.as_of(timeline, t(1.5)).author.name == "Ursula K."


def test_untracked_related_objects_are_current_and_marked(timeline):
    tag = Tag.objects.create(name="sf")
    with at(t(3)):
        link = BookTag.objects.create(book=timeline, tag=tag)
    Tag.objects.filter(pk=tag.pk).update(name="science fiction")

    past = pghistory_core.as_of(link, t(4))

    related = past.pgh_as_of.related
    assert related["tag"].state == "current"
    assert past.tag.name == "science fiction"
    assert related["book"].state == "as_of"
    assert past.book.title == "Final"


def test_not_yet_created_and_deleted(timeline):
    with pytest.raises(pghistory_core.NotYetCreated) as created:
        pghistory_core.as_of(timeline, t(-1))
    assert created.value.state == "not_created"
    assert created.value.pgh_created_at == t(0)
    assert isinstance(created.value, Book.DoesNotExist.__mro__[1])  # ObjectDoesNotExist

    pk = timeline.pk
    with at(t(5)):
        timeline.delete()
    with pytest.raises(pghistory_core.DeletedAt) as deleted:
        pghistory_core.as_of(Book, pk, t(6))
    assert deleted.value.state == "deleted"
    assert deleted.value.pgh_created_at == t(5)
    assert pghistory_core.as_of(Book, pk, t(4)).title == "Final"


def test_a_deleted_object_whose_related_object_is_gone(timeline):
    author = timeline.author
    with at(t(5)):
        author.delete()  # cascades to the book
    past = pghistory_core.as_of(Book, timeline.pk, t(4))
    assert past.author.name == "Ursula K."
    assert pghistory_core.as_of(Book, timeline.pk, t(4), related=False).pgh_as_of.related == {}


def test_equal_timestamps_are_ordered_by_event_id():
    # One transaction: every event shares NOW(); the last one wins.
    with transaction.atomic(), at(t(0)):
        author = Author.objects.create(name="A")
        for name in ("B", "C", "D"):
            Author.objects.filter(pk=author.pk).update(name=name)
    assert pghistory_core.as_of(author, t(0)).name == "D"


def test_history_that_begins_later_is_not_recorded_before():
    with at(t(0)):
        ticket = Ticket.objects.create(priority=1)  # no tracker fires
    with at(t(1)):
        ticket.status = "closed"
        ticket.save()
    with pytest.raises(pghistory_core.NotRecorded) as missing:
        pghistory_core.as_of(ticket, t(0.5))
    assert missing.value.state == "not_recorded"
    assert pghistory_core.as_of(ticket, t(1)).status == "closed"
    with pytest.raises(pghistory_core.NotRecorded):
        pghistory_core.as_of(Ticket, 999, t(1))


def test_old_row_events_show_the_row_before_them():
    with at(t(0)):
        ticket = Ticket.objects.create(priority=5, assignee="ann")
    with at(t(2)):
        ticket.assignee = "bob"  # "reassigned" copies the row before: assignee ann
        ticket.save()
    assert pghistory_core.as_of(ticket, t(1)).assignee == "ann"
    # After the reassignment nothing recorded the new row: the last known row is used.
    assert pghistory_core.as_of(ticket, t(0)).assignee == "ann"


def test_rows_related_to_an_object_as_of_then(timeline):
    keep, gone, later = (Tag.objects.create(name=n) for n in ("keep", "gone", "later"))
    with at(t(3)):
        BookTag.objects.create(book=timeline, tag=keep)
        removed = BookTag.objects.create(book=timeline, tag=gone)
    with at(t(5)):
        removed.delete()
        BookTag.objects.create(book=timeline, tag=later)

    def tags(hours):
        past = pghistory_core.as_of(timeline, t(hours))
        return [link.tag.name for link in pghistory_core.related_as_of(past, BookTag, "book")]

    assert tags(2) == []
    assert tags(4) == ["keep", "gone"]
    assert tags(6) == ["keep", "later"]


def test_bad_arguments(timeline):
    with pytest.raises(ValueError, match="aware"):
        pghistory_core.as_of(timeline, datetime(2025, 1, 1))
    with pytest.raises(TypeError):
        pghistory_core.as_of(timeline, "yesterday")
    with pytest.raises(TypeError):
        pghistory_core.as_of(Book, timeline.pk)
    with pytest.raises(TypeError):
        pghistory_core.as_of("Book", 1, t(0))


def test_queries_do_not_grow_with_the_history(timeline):
    def count():
        with CaptureQueriesContext(connection) as captured:
            pghistory_core.as_of(timeline, t(1.5))
        return len(captured.captured_queries)

    before = count()
    with at(t(3)):
        for index in range(30):
            Book.objects.filter(pk=timeline.pk).update(title=f"T{index}")
    assert count() == before


@pytest.mark.parametrize(
    ("kind", "field", "old", "new"),
    [
        ("uuid", "body", "one", "two"),
        ("char", "value", 1, 2),
        ("bigint", "value", 1, 2),
        ("inherited", "serves_pizza", False, True),
    ],
)
def test_primary_key_types_and_inheritance(kind, field, old, new):
    from tests.testapp.models import Code, Counter, Document, Restaurant

    model = {"uuid": Document, "char": Code, "bigint": Counter, "inherited": Restaurant}[kind]
    extra = {"char": {"code": "A-1"}, "inherited": {"name": "Chez"}}.get(kind, {})
    with at(t(0)):
        obj = model.objects.create(**{field: old}, **extra)
    with at(t(1)):
        model.objects.filter(pk=obj.pk).update(**{field: new})
    past = pghistory_core.as_of(model, str(obj.pk), t(0.5))
    assert getattr(past, field) == old
    if kind == "inherited":
        assert past.name == "Chez"  # the parent's field, copied by the child's events
    assert getattr(pghistory_core.as_of(obj, t(1)), field) == new
    blamed = pghistory_core.blame(obj)[field]
    assert blamed.status == "changed"
    assert blamed.event.pgh_created_at == t(1)
