"""Every write path records events, whatever wrote it."""

from decimal import Decimal

import pytest
from django.db import connection, transaction

from tests.testapp.models import Author, AuthorEvent, Book, BookEvent, BookPriceEvent

pytestmark = pytest.mark.django_db


def labels(queryset):
    return list(queryset.order_by("pgh_id").values_list("pgh_label", flat=True))


def test_save_records_insert_and_update(author):
    assert labels(AuthorEvent.objects.filter(pgh_obj=author)) == ["insert"]
    author.email = "new@example.com"
    author.save()
    events = list(AuthorEvent.objects.filter(pgh_obj=author).order_by("pgh_id"))
    assert [e.pgh_label for e in events] == ["insert", "update"]
    assert events[0].email == "ursula@example.com"
    assert events[1].email == "new@example.com"
    assert events[1].pgh_context_id is None


def test_update_without_change_records_nothing(author):
    author.save()
    assert labels(AuthorEvent.objects.filter(pgh_obj=author)) == ["insert"]


def test_bulk_create_records_every_row():
    authors = Author.objects.bulk_create([Author(name=f"a{i}") for i in range(50)])
    assert AuthorEvent.objects.filter(pgh_label="insert").count() == 50
    assert set(AuthorEvent.objects.values_list("pgh_obj_id", flat=True)) == {a.pk for a in authors}


def test_queryset_update_records_changed_rows_only():
    Author.objects.bulk_create(
        [Author(name=f"a{i}", email="x@example.com" if i < 3 else "") for i in range(6)]
    )
    Author.objects.update(email="x@example.com")
    assert AuthorEvent.objects.filter(pgh_label="update").count() == 3
    assert set(AuthorEvent.objects.filter(pgh_label="update").values_list("email", flat=True)) == {
        "x@example.com"
    }


def test_bulk_update_records_each_row():
    authors = Author.objects.bulk_create([Author(name=f"a{i}") for i in range(4)])
    for index, author in enumerate(authors):
        author.email = f"{index}@example.com"
    Author.objects.bulk_update(authors, ["email"])
    updates = AuthorEvent.objects.filter(pgh_label="update").order_by("pgh_obj_id")
    assert [e.email for e in updates] == [f"{i}@example.com" for i in range(4)]


def test_delete_cascades_are_recorded(book):
    author_pk, book_pk = book.author.pk, book.pk
    book.author.delete()
    assert labels(AuthorEvent.objects.filter(pgh_obj_id=author_pk)) == ["insert", "delete"]
    book_events = BookEvent.objects.filter(pgh_obj_id=book_pk).order_by("pgh_id")
    assert [e.pgh_label for e in book_events] == ["insert", "delete"]
    assert book_events.last().title == "The Dispossessed"


def test_raw_sql_through_django_is_recorded(author):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE testapp_author SET email = %s WHERE id = %s", ["raw@example.com", author.pk]
        )
    assert AuthorEvent.objects.filter(pgh_label="update").get().email == "raw@example.com"


def test_rollback_leaves_no_events():
    with pytest.raises(RuntimeError), transaction.atomic():
        Author.objects.create(name="ghost")
        raise RuntimeError
    assert not AuthorEvent.objects.exists()


def test_custom_db_column_is_copied(book):
    event = BookEvent.objects.get(pgh_obj=book)
    assert event.title == "The Dispossessed"
    assert BookEvent._meta.get_field("title").column == "book_title"


def test_auto_now_field_excluded_from_condition(book):
    book.save()  # only updated_at changes
    assert labels(BookEvent.objects.filter(pgh_obj=book)) == ["insert"]
    book.price = Decimal("12.50")
    book.save()
    assert labels(BookEvent.objects.filter(pgh_obj=book)) == ["insert", "update"]


def test_subset_of_fields_tracked_separately(book):
    book.title = "Renamed"
    book.save()
    assert not BookPriceEvent.objects.exists()
    Book.objects.filter(pk=book.pk).update(price=Decimal("1.00"))
    event = BookPriceEvent.objects.get()
    assert event.pgh_label == "price_changed"
    assert event.price == Decimal("1.00")
    assert [f.name for f in BookPriceEvent._meta.fields if not f.name.startswith("pgh_")] == [
        "price"
    ]


def test_bulk_create_upsert_records_inserts_and_updates():
    Author.objects.create(name="existing", email="old@example.com")
    Author.objects.bulk_create(
        [Author(name="existing", email="new@example.com"), Author(name="fresh")],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["email"],
    )
    rows = list(AuthorEvent.objects.order_by("pgh_id").values_list("pgh_label", "name", "email"))
    assert rows[0] == ("insert", "existing", "old@example.com")
    assert sorted(rows[1:]) == [("insert", "fresh", ""), ("update", "existing", "new@example.com")]


def test_copy_from_is_recorded():
    import io

    with connection.cursor() as cursor:
        raw = cursor.cursor
        data = "copied\tc@example.com\n"
        if hasattr(raw, "copy_expert"):  # psycopg2
            raw.copy_expert("COPY testapp_author (name, email) FROM STDIN", io.StringIO(data))
        else:  # psycopg 3
            with raw.copy("COPY testapp_author (name, email) FROM STDIN") as copy:
                copy.write(data)
    assert AuthorEvent.objects.get().name == "copied"


def test_pgtrigger_ignore_skips_event_triggers():
    import pgtrigger

    with pgtrigger.ignore("testapp.Author:insert_insert"):
        Author.objects.create(name="unrecorded")
    Author.objects.create(name="recorded")
    assert list(AuthorEvent.objects.values_list("name", flat=True)) == ["recorded"]


def test_a_bulk_update_after_a_single_row_update_keeps_a_linear_plan():
    # PL/pgSQL caches the plan of the trigger's INSERT (old and new rows joined on the primary
    # key) the first time it runs in a session, sized for that statement. Planned for one row
    # it was a nested loop, and a later 20,000-row UPDATE then compared 400 million pairs
    # (about 50 s here); the hash join takes well under a second.
    Author.objects.bulk_create([Author(name=f"a{i}") for i in range(20_000)])
    first = Author.objects.order_by("pk").first()
    with connection.cursor() as cursor:
        cursor.execute("DISCARD PLANS")  # plans cached by earlier tests in this session
    Author.objects.filter(pk=first.pk).update(email="single@example.com")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '15s'")
        assert Author.objects.update(email="bulk@example.com") == 20_000
    assert (
        AuthorEvent.objects.filter(pgh_label="update", email="bulk@example.com").count() == 20_000
    )


def test_the_pk_change_trigger_names_only_the_primary_key_in_its_condition():
    # Postgres refuses ALTER COLUMN TYPE of a column used in a trigger's WHEN clause;
    # django-pgtrigger then re-creates the trigger without its hash comment (shown OUTDATED).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgrelid = 'testapp_author'::regclass AND tgname LIKE '%%update_pk%%'"
        )
        (definition,) = cursor.fetchone()
    condition = definition.split("WHEN", 1)[1].split("EXECUTE", 1)[0]
    assert condition.strip() == "((old.id IS DISTINCT FROM new.id))"
