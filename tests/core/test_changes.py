"""``Events.objects.changed(field)``: the events whose diff has the field, found in each table."""

import json
from decimal import Decimal

import pytest
from django.db import connection

import pghistory_core
from pghistory_core.models import Events
from tests.testapp.models import (
    Author,
    AuthorEvent,
    Book,
    BookEvent,
    BookPriceEvent,
    Code,
    LedgerEntry,
    Ticket,
)

pytestmark = pytest.mark.django_db


def with_key(key, queryset=None):
    """The oracle: ids of the events whose ``pgh_diff`` (computed for each row, keyed by
    attribute name) has ``key``."""
    queryset = (Events.objects.all() if queryset is None else queryset).by_attname()
    return [e.pgh_id for e in queryset.order_by("pgh_id") if e.pgh_diff and key in e.pgh_diff]


def ids(queryset):
    return list(queryset.order_by("pgh_id").values_list("pgh_id", flat=True))


@pytest.fixture
def mixed_history(book, author):
    """Updates of several models: some change a field, some do not, values go to and from NULL."""
    book.price = Decimal("5.00")
    book.save()
    book.price = Decimal("6.00")
    book.save()
    book.title = "New title"
    book.save()
    book.status = "published"
    book.save()
    Author.objects.filter(pk=author.pk).update(email="u@example.com")
    Author.objects.filter(pk=author.pk).update(name="Ursula K.")
    pghistory_core.create_event(author, label="snapshot")  # same values: no key in its diff
    entry = LedgerEntry.objects.create(account="a", amount=Decimal("1.00"), rate=None)
    for rate, data in ((1.5, {}), (None, {"k": [1, 2]}), (None, {"k": [1, 2]}), (0.0, {"k": [2]})):
        LedgerEntry.objects.filter(pk=entry.pk).update(rate=rate, data=data)
    ticket = Ticket.objects.create(status="open", assignee="ann")
    Ticket.objects.filter(pk=ticket.pk).update(assignee="bob")  # row=Old event
    Ticket.objects.filter(pk=ticket.pk).update(status="closed")
    Code.objects.create(code="A", value=1)
    Code.objects.filter(code="A").update(code="B")  # a new key: its event has no diff
    Code.objects.filter(code="B").update(value=2)
    book.delete()  # a delete repeats the last values: no key changed
    return {"book": book, "author": author}


@pytest.mark.parametrize(
    "key",
    ["price", "title", "status", "email", "name", "rate", "data", "value", "code", "assignee"],
)
def test_changed_is_the_diffs_key_test(mixed_history, key):
    expected = with_key(key)
    assert ids(Events.objects.changed(key)) == expected
    assert ids(Events.objects.by_attname().filter(pgh_diff__has_key=key)) == expected


def test_the_diff_key_test_takes_the_keys_pgh_diff_has(mixed_history):
    # pgh_diff is keyed by column, as in django-pghistory 3.x (Book.title is "book_title"), or by
    # attribute name after by_attname(); changed() takes any of the three.
    expected = with_key("title")
    assert expected
    assert ids(Events.objects.filter(pgh_diff__has_key="book_title")) == expected
    assert ids(Events.objects.filter(pgh_diff__has_key="title")) == []
    assert ids(Events.objects.changed("book_title")) == expected


def test_null_transitions_count_as_changes(mixed_history):
    rates = Events.objects.changed("rate").order_by("pgh_id")
    assert [e.pgh_diff["rate"] for e in rates] == [[None, 1.5], [1.5, None], [None, 0.0]]
    assert [e.pgh_diff["data"] for e in Events.objects.changed("data").order_by("pgh_id")] == [
        [{}, {"k": [1, 2]}],
        [{"k": [1, 2]}, {"k": [2]}],
    ]


def test_one_table_and_several_tables_give_the_same_rows(mixed_history):
    # One table tracking the field: the test is the branch's clause; several: above the union.
    price = Events.objects.changed("price")
    assert len(set(price.values_list("pgh_model", flat=True))) == 2
    assert ids(price.across(BookEvent)) == with_key("price", Events.objects.across(BookEvent))
    assert ids(price.across(BookPriceEvent)) == with_key(
        "price", Events.objects.across(BookPriceEvent)
    )
    assert ids(price) == sorted(ids(price.across(BookEvent)) + ids(price.across(BookPriceEvent)))


def test_several_fields_are_any_of_them(mixed_history):
    either = set(with_key("title")) | set(with_key("email"))
    assert ids(Events.objects.changed("title", "email")) == sorted(either)


def test_names_or_attribute_names_but_the_diff_test_takes_keys_only(book, author):
    other = Author.objects.create(name="Le Guin")
    book.author = other
    book.save()
    moved = with_key("author_id")
    assert moved
    assert ids(Events.objects.changed("author")) == moved
    assert ids(Events.objects.changed("author_id")) == moved
    # pgh_diff's keys are columns (or attribute names): "author" is none of them.
    assert ids(Events.objects.filter(pgh_diff__has_key="author")) == []


def test_combines_with_the_other_filters(mixed_history):
    author = mixed_history["author"]
    events = Events.objects.tracks(author).changed("name", "email")
    assert ids(events) == sorted(
        with_key("name", Events.objects.tracks(author))
        + with_key("email", Events.objects.tracks(author))
    )
    assert ids(events.filter(pgh_label="update").across(AuthorEvent)) == ids(events)
    assert list(Events.objects.changed("nope")) == []
    assert list(Events.objects.across(AuthorEvent).changed("price")) == []


def test_a_bad_argument_is_refused():
    with pytest.raises(ValueError, match="names of tracked fields"):
        Events.objects.changed()
    with pytest.raises(ValueError, match="names of tracked fields"):
        Events.objects.changed("")


def _scans(plan):
    """``(relation, rows read)`` of each filtered scan of an event table's primary key."""
    found = []

    def walk(node):
        if node.get("Index Name", "").endswith("_pkey") and "SubPlan" in node.get("Filter", ""):
            read = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            found.append((node["Relation Name"], read))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def test_a_page_reads_newest_first_and_stops_when_full(book, author):
    # Many events of two models, the field changing in one in ten: a page of 5 must not read them all.
    for index in range(300):
        Book.objects.filter(pk=book.pk).update(title=f"T{index // 10}", price=index)
        Author.objects.filter(pk=author.pk).update(name=f"A{index // 10}", email=f"{index}@x")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE testapp_bookevent; ANALYZE testapp_authorevent")
    page = Events.objects.across(BookEvent, AuthorEvent).changed("name", "title")
    sql, params = page.order_by("-pgh_id")[:5].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    scans = _scans(plan)
    assert {relation for relation, _ in scans} == {"testapp_bookevent", "testapp_authorevent"}
    assert sum(read for _, read in scans) < 100  # of 602 events
    assert len(list(page.order_by("-pgh_id")[:5])) == 5
