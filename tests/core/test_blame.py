"""Field blame on a real Postgres: which event set each field's current value."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import pghistory_core
from pghistory_core.blame import CHANGED, CREATED, TRACKED, UNRECORDED
from tests.testapp.models import Author, Book, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def edited(author):
    """A book created by user 1, retitled by user 2 in a request, repriced by a command."""
    with pghistory_core.context(user=1, url="/admin/testapp/book/add/"):
        book = Book.objects.create(title="Draft", author=author, price="5.00")
    with pghistory_core.context(user=2, url="/admin/testapp/book/1/change/"):
        book.title = "Final"
        book.save()
    with pghistory_core.context(command="reprice", command_args=["--all"]):
        Book.objects.filter(pk=book.pk).update(price="7.50")
    return book


def test_each_field_names_the_event_that_set_it(edited):
    result = pghistory_core.blame(edited)

    assert result.exists
    title = result["title"]
    assert (title.value, title.status) == ("Final", CHANGED)
    assert title.event.user == 2
    assert title.event.url == "/admin/testapp/book/1/change/"
    assert title.event.pgh_label == "update"

    price = result["price"]
    assert price.value == Decimal("7.50")
    assert price.status == CHANGED
    assert price.event.command == "reprice"
    assert price.event.user is None

    status = result["status"]
    assert status.status == CREATED
    assert status.event.pgh_label == "insert"
    assert status.event.user == 1
    assert result.first.pgh_id == status.event.pgh_id


def test_fields_in_model_order_without_the_primary_key(edited):
    names = [f.name for f in pghistory_core.blame(edited)]
    assert names == ["title", "author", "price", "status", "data", "updated_at"]
    assert pghistory_core.blame(edited)["author_id"].name == "author"


def test_a_change_back_to_an_old_value_is_the_change(edited):
    with pghistory_core.context(user=3):
        Book.objects.filter(pk=edited.pk).update(title="Draft")
    with pghistory_core.context(user=4):
        Book.objects.filter(pk=edited.pk).update(price="1.00")

    result = pghistory_core.blame(Book, edited.pk)

    assert result["title"].value == "Draft"
    assert result["title"].event.user == 3
    assert result["price"].event.user == 4


def test_model_and_pk_of_a_deleted_object(edited):
    pk = edited.pk
    with pghistory_core.context(user=9):
        edited.delete()

    result = pghistory_core.blame(Book, str(pk))

    assert not result.exists
    assert result["title"].value == "Final"
    assert result["title"].event.user == 2  # the delete did not change it
    assert result["price"].value == Decimal("7.50")
    assert result.last.pgh_label == "delete"


def test_an_id_without_row_or_history():
    with pytest.raises(Book.DoesNotExist):
        pghistory_core.blame(Book, 12345)


def test_a_model_with_a_price_only_event_model(edited):
    # BookPriceEvent records price changes too; the book's main model records everything.
    result = pghistory_core.blame(edited)
    assert result["price"].event.pgh_model in {"testapp.BookEvent", "testapp.BookPriceEvent"}
    assert result["price"].event.command == "reprice"


def test_old_row_updates_blame_their_own_event():
    # big_insert (priority >= 5) begins the history; "reassigned" copies the row before it.
    with pghistory_core.context(user=1):
        ticket = Ticket.objects.create(priority=5, assignee="ann")
    with pghistory_core.context(user=2):
        ticket.assignee = "bob"
        ticket.save()
    with pghistory_core.context(user=3):
        ticket.status = "closed"
        ticket.save()

    result = pghistory_core.blame(ticket)

    assert result["assignee"].value == "bob"
    assert result["assignee"].status == CHANGED
    assert result["assignee"].event.pgh_label == "reassigned"
    assert result["assignee"].event.user == 2
    assert result["status"].event.pgh_label == "closed"
    assert result["priority"].status == CREATED


def test_history_that_begins_after_creation_and_unrecorded_changes():
    ticket = Ticket.objects.create(priority=1)  # no tracker fires: no event
    with pghistory_core.context(user=7):
        ticket.status = "closed"
        ticket.save()
    ticket.priority = 2  # no tracker fires for this either
    ticket.save()

    result = pghistory_core.blame(ticket)

    assert result["status"].status == TRACKED
    assert result["status"].event.user == 7
    assert result["priority"].status == UNRECORDED
    assert result["priority"].event is None


def test_foreign_keys_are_blamed_like_any_field(edited):
    other = Author.objects.create(name="Other")
    with pghistory_core.context(user=5):
        Book.objects.filter(pk=edited.pk).update(author=other)
    result = pghistory_core.blame(edited)
    assert result["author"].value == other.pk
    assert result["author"].event.user == 5


def test_queries_do_not_grow_with_the_history(edited):
    def count():
        with CaptureQueriesContext(connection) as captured:
            pghistory_core.blame(edited)
        return len(captured.captured_queries)

    before = count()
    for index in range(30):
        Book.objects.filter(pk=edited.pk).update(status="published" if index % 2 else "draft")
    assert count() == before
    assert before <= 5


def test_the_walk_uses_the_object_index(edited):
    # The per-field statement reads the object's events through (pgh_obj_id, pgh_id).
    with CaptureQueriesContext(connection) as captured:
        pghistory_core.blame(edited)
    statement = next(q["sql"] for q in captured.captured_queries if "IS DISTINCT FROM" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on testapp_bookevent" not in plan
