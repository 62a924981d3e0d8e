"""Field blame on a real Postgres: which event set each field's current value."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import pghistory_core
from pghistory_core.blame import CHANGED, CREATED, TRACKED, UNRECORDED
from tests.testapp.models import Author, Book, Document, Gadget, Restaurant, Ticket

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


def _statements(call):
    with CaptureQueriesContext(connection) as captured:
        call()
    return [q["sql"] for q in captured.captured_queries]


def test_queries_do_not_grow_with_the_history(edited):
    # The row and the whole scan are one statement, the named events a second.
    assert len(_statements(lambda: pghistory_core.blame(edited))) == 2
    for index in range(30):
        Book.objects.filter(pk=edited.pk).update(status="published" if index % 2 else "draft")
    assert len(_statements(lambda: pghistory_core.blame(edited))) == 2


def test_queries_of_a_deleted_object_do_not_grow_with_the_history(edited):
    pk = edited.pk
    edited.delete()
    before = len(_statements(lambda: pghistory_core.blame(Book, pk)))
    Book.objects.create(pk=pk, title="Again", author=edited.author)
    for price in ("1.00", "2.00", "3.00"):
        Book.objects.filter(pk=pk).update(price=price)
    Book.objects.filter(pk=pk).delete()
    assert len(_statements(lambda: pghistory_core.blame(Book, pk))) == before


def _plan(statement):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = on")
    return plan


@pytest.mark.parametrize("deleted", [False, True])
def test_the_walk_uses_the_object_index(edited, deleted):
    # Every read of the events goes through (pgh_obj_id, pgh_id), alive or deleted.
    pk = edited.pk
    if deleted:
        edited.delete()
    statements = _statements(lambda: pghistory_core.blame(Book, pk))
    statement = next(s for s in statements if "IS DISTINCT FROM" in s)
    plan = _plan(statement)
    assert "Seq Scan on testapp_bookevent" not in plan
    assert "Seq Scan on testapp_bookpriceevent" not in plan
    # The scan itself goes through the (pgh_obj_id, pgh_id) index.
    assert re.search(r"(using|Scan on) testapp_boo\w*_pgh_obj_\w*_idx", plan), plan


def test_an_object_with_only_its_insert(author):
    with pghistory_core.context(user=1):
        book = Book.objects.create(title="Once", author=author, price="3.00")

    result = pghistory_core.blame(book)

    assert {f.status for f in result} == {CREATED}
    assert {f.event.pgh_id for f in result} == {result.first.pgh_id}
    assert result.first.pgh_id == result.last.pgh_id
    assert result["title"].event.user == 1


def _gadget_history():
    """A gadget whose name and price are recorded by subset event models as well."""
    with pghistory_core.context(user=1):
        gadget = Gadget.objects.create(name="Lamp", price="10.00")
    with pghistory_core.context(user=2):
        Gadget.objects.filter(pk=gadget.pk).update(name="Desk lamp")
    with pghistory_core.context(user=3):
        Gadget.objects.filter(pk=gadget.pk).update(price="12.00")
    with pghistory_core.context(user=4):
        Gadget.objects.filter(pk=gadget.pk).update(manual="manuals/lamp.pdf")
    return gadget


def test_fields_recorded_by_several_event_models():
    gadget = _gadget_history()

    result = pghistory_core.blame(gadget)

    assert [f.name for f in result] == ["name", "price", "manual"]
    assert (result["name"].value, result["name"].event.user) == ("Desk lamp", 2)
    assert (result["price"].value, result["price"].event.user) == (Decimal("12.00"), 3)
    assert (result["manual"].value, result["manual"].event.user) == ("manuals/lamp.pdf", 4)
    assert {f.status for f in result} == {CHANGED}
    # The insert is the only event of the full tracker's model the subset models lack.
    assert result.first.pgh_label == "insert"
    assert result.last.user == 4


def test_a_deleted_row_without_a_delete_event_reads_the_newest_of_each_model():
    gadget = _gadget_history()
    with pghistory_core.context(user=5):
        Gadget.objects.filter(pk=gadget.pk).update(price="15.00")
    Gadget.objects.filter(pk=gadget.pk).delete()  # Gadget records no deletes

    result = pghistory_core.blame(Gadget, gadget.pk)

    assert not result.exists
    assert result["name"].value == "Desk lamp"
    assert result["name"].event.user == 2
    assert result["price"].value == Decimal("15.00")
    assert result["price"].event.user == 5
    assert result["manual"].value == "manuals/lamp.pdf"
    assert result.last.user == 5


def test_a_field_changed_back_after_deletion_is_blamed_on_the_last_change(edited):
    # Deleted: "current" is what the delete event saw, the row before it.
    with pghistory_core.context(user=6):
        Book.objects.filter(pk=edited.pk).update(status="published")
    with pghistory_core.context(user=7):
        Book.objects.filter(pk=edited.pk).update(status="draft")
    pk = edited.pk
    edited.delete()

    result = pghistory_core.blame(Book, pk)

    assert result["status"].value == "draft"
    assert (result["status"].status, result["status"].event.user) == (CHANGED, 7)
    assert result["title"].event.user == 2


def test_denormalised_context_and_a_uuid_key():
    with pghistory_core.context(user=1, url="/new"):
        document = Document.objects.create(body="v1")
    with pghistory_core.context(user=2, url="/edit"):
        document.body = "v2"
        document.save()

    result = pghistory_core.blame(Document, str(document.pk))

    assert result["body"].value == "v2"
    assert result["body"].status == CHANGED
    assert (result["body"].event.user, result["body"].event.url) == (2, "/edit")
    assert result.first.user == 1


def test_inherited_fields_are_read_from_the_parent_table():
    with pghistory_core.context(user=1):
        restaurant = Restaurant.objects.create(name="Chez", serves_pizza=False)
    with pghistory_core.context(user=2):
        restaurant.name = "Chez Nous"
        restaurant.serves_pizza = True  # the child's row changes too: its trigger fires
        restaurant.save()
    with pghistory_core.context(user=3):
        restaurant.name = "Chez Eux"  # only the parent's row changes: no event of the child
        restaurant.save()

    result = pghistory_core.blame(restaurant)

    assert result["name"].value == "Chez Eux"
    assert (result["name"].status, result["name"].event) == (UNRECORDED, None)
    assert (result["serves_pizza"].status, result["serves_pizza"].event.user) == (CHANGED, 2)
    Restaurant.objects.filter(pk=restaurant.pk).update(name="Chez Nous")
    result = pghistory_core.blame(restaurant)
    assert (result["name"].status, result["name"].event.user) == (CHANGED, 2)
