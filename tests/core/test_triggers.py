"""Every write path records events, whatever wrote it."""

from decimal import Decimal

import pytest
from django.db import connection, transaction

import pghistory_core
from tests.testapp.models import (
    Author,
    AuthorEvent,
    Book,
    BookEvent,
    BookPriceEvent,
    Code,
    CodeEvent,
    Place,
    Restaurant,
    RestaurantEvent,
)

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


def _temp_files():
    """Temporary files written in the test database so far; None before PostgreSQL 15, which
    cannot flush a session's statistics on demand."""
    if connection.pg_version < 150000:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT temp_files FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)  # statistics are flushed only between transactions
def test_an_update_whose_transition_tables_spill_to_disk_records_every_changed_row():
    # Postgres keeps a statement's transition tables in memory up to the work_mem it started
    # with and writes the rest to temporary files; the trigger's join of old and new rows then
    # reads them back (and, under this work_mem, hashes them in batches on disk too).
    Author.objects.bulk_create(
        [Author(name=f"a{i}", email="same@x" if i % 3 == 0 else "") for i in range(6_000)]
    )
    before = _temp_files()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64kB'")
        assert Author.objects.update(email="same@x") == 6_000
    if before is not None:
        # Two files are the transition tables; the join's batches add more (64 seen here).
        assert _temp_files() > before + 2
    updates = AuthorEvent.objects.filter(pgh_label="update")
    assert updates.count() == 4_000
    assert set(updates.values_list("email", flat=True)) == {"same@x"}
    unchanged = Author.objects.filter(name__in=[f"a{i}" for i in range(0, 6_000, 3)])
    assert not updates.filter(pgh_obj__in=unchanged).exists()


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


def _function_settings(table):
    """``{trigger name: SET clauses of its function}`` of the triggers on ``table``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.tgname, COALESCE(p.proconfig, '{}') FROM pg_trigger AS t "
            "JOIN pg_proc AS p ON p.oid = t.tgfoid "
            "WHERE t.tgrelid = %s::regclass AND NOT t.tgisinternal",
            [table],
        )
        return {name.split("_", 1)[1].rsplit("_", 1)[0]: set(config) for name, config in cursor}


def test_the_pk_change_trigger_fires_only_for_updates_that_assign_the_key():
    # Django's UPDATEs never assign the primary key, so Postgres skips the trigger (WHEN
    # included) for them without looking at any row.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgrelid = 'testapp_code'::regclass AND tgname LIKE '%%update_pk%%'"
        )
        (definition,) = cursor.fetchone()
    assert " AFTER UPDATE OF code ON " in definition


def test_statement_triggers_plan_their_insert_once_per_session():
    generic = "plan_cache_mode=force_generic_plan"
    author = _function_settings("testapp_author")
    assert author["insert_insert"] == {generic}
    assert author["delete_delete"] == {generic}
    assert author["update_update"] == {generic, "enable_nestloop=off", "enable_mergejoin=off"}
    assert author["update_update_pk"] == set()  # row-level: its plan is generic already
    # Reading a parent table (multi-table inheritance), an INSERT's plan depends on the
    # statement's size: planned for each statement as before.
    restaurant = _function_settings("testapp_restaurant")
    assert restaurant["insert_insert"] == set()
    assert generic in restaurant["update_update"]


@pytest.mark.parametrize("first_rows", [1, 2_000])
def test_a_plan_made_for_one_statement_size_records_every_other_size(first_rows):
    # The generic plan of each trigger is made by the first statement of the session: whether
    # that wrote one row or thousands, later statements of other sizes record every row.
    with connection.cursor() as cursor:
        cursor.execute("DISCARD PLANS")
    sizes = [first_rows, 3_001 - first_rows]
    for size in sizes:
        Author.objects.bulk_create([Author(name=f"{size}-{i}") for i in range(size)])
    for size in sizes:
        assert Author.objects.filter(name__startswith=f"{size}-").update(email=f"{size}@x") == size
    for size in sizes:
        assert Author.objects.filter(name__startswith=f"{size}-").delete()[0] == size
    for size in sizes:
        events = AuthorEvent.objects.filter(name__startswith=f"{size}-")
        assert events.filter(pgh_label="insert").count() == size
        assert events.filter(pgh_label="update", email=f"{size}@x").count() == size
        assert events.filter(pgh_label="delete", email=f"{size}@x").count() == size


@pytest.mark.parametrize("first_rows", [1, 500])
def test_a_parent_table_is_read_whatever_size_the_plan_was_made_for(first_rows):
    with connection.cursor() as cursor:
        cursor.execute("DISCARD PLANS")
    sizes = [first_rows, 501 - first_rows]
    for size in sizes:
        Place.objects.bulk_create([Place(name=f"{size}-{i}") for i in range(size)])
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO testapp_restaurant (place_ptr_id, serves_pizza) "
                "SELECT id, false FROM testapp_place WHERE name LIKE %s",
                [f"{size}-%"],
            )
    for size in sizes:
        Restaurant.objects.filter(name__startswith=f"{size}-").update(serves_pizza=True)
    for size in sizes:
        events = RestaurantEvent.objects.filter(name__startswith=f"{size}-")
        assert events.filter(pgh_label="insert", serves_pizza=False).count() == size
        assert events.filter(pgh_label="update", serves_pizza=True).count() == size


def test_one_session_records_each_statement_with_its_own_context_and_key_changes():
    # The cached plan takes the label, context and skipped keys as parameters of each call.
    Code.objects.create(code="a")
    with pghistory_core.context(step="first"):
        Code.objects.filter(pk="a").update(value=1)
    with pghistory_core.context(step="second"):
        Code.objects.filter(pk="a").update(code="b", value=2)
    Code.objects.filter(pk="b").update(value=3)
    events = list(CodeEvent.objects.order_by("pgh_id"))
    assert [(e.code, e.value) for e in events] == [("a", 0), ("a", 1), ("b", 2), ("b", 3)]
    steps = [e.pgh_context.metadata["step"] if e.pgh_context else None for e in events]
    # The last update runs after the block, in the same (test) transaction: as in
    # django-pghistory 3.x, the transaction-local context stays in effect until it ends.
    assert steps == [None, "first", "second", "second"]
