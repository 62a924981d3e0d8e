"""context(): metadata reaches the triggers, on every alias, in every form of use."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections, transaction

import pghistory_core
from pghistory_core.models import Context
from tests.testapp.models import Author, AuthorEvent, Document, DocumentEvent

pytestmark = pytest.mark.django_db


def test_events_inside_a_context_share_it():
    with pghistory_core.context(user=7, url="/import/") as ctx:
        a = Author.objects.create(name="a")
        Author.objects.filter(pk=a.pk).update(email="a@example.com")
    events = list(AuthorEvent.objects.order_by("pgh_id"))
    assert len(events) == 2
    assert {e.pgh_context_id for e in events} == {ctx.id}
    context = Context.objects.get()
    assert context.metadata == {"user": 7, "url": "/import/"}
    assert all(e.pgh_context_id == context.id for e in events)


def test_no_context_outside():
    Author.objects.create(name="a")
    assert AuthorEvent.objects.get().pgh_context_id is None
    assert not Context.objects.exists()


def test_nested_contexts_merge_metadata_into_one_context():
    with pghistory_core.context(user=1):
        Author.objects.create(name="outer")
        with pghistory_core.context(task="import"):
            Author.objects.create(name="inner")
    assert Context.objects.count() == 1
    assert Context.objects.get().metadata == {"user": 1, "task": "import"}
    assert AuthorEvent.objects.values("pgh_context_id").distinct().count() == 1


def test_calling_context_without_with_adds_to_the_open_one():
    with pghistory_core.context(user=1):
        pghistory_core.context(reason="cleanup")
        Author.objects.create(name="x")
    assert Context.objects.get().metadata == {"user": 1, "reason": "cleanup"}


def test_decorator():
    @pghistory_core.context(task="nightly")
    def job():
        Author.objects.create(name="job")

    job()
    assert Context.objects.get().metadata == {"task": "nightly"}


def test_separate_blocks_get_separate_contexts():
    for name in ("a", "b"):
        with pghistory_core.context(user=name):
            Author.objects.create(name=name)
    assert Context.objects.count() == 2


def test_context_survives_atomic_blocks_and_savepoint_rollbacks():
    with pghistory_core.context(user=1), transaction.atomic():
        Author.objects.create(name="kept")
        with pytest.raises(RuntimeError), transaction.atomic():
            Author.objects.create(name="lost")
            raise RuntimeError
        Author.objects.create(name="kept too")
    events = AuthorEvent.objects.all()
    assert sorted(e.name for e in events) == ["kept", "kept too"]
    assert all(e.pgh_context_id is not None for e in events)
    assert Context.objects.count() == 1


def test_literal_percent_sign_in_sql_without_params():
    author = Author.objects.create(name="100%")
    with pghistory_core.context(user=1), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE testapp_author SET email = 'a%b@example.com' WHERE id = {author.pk}"
        )
        cursor.execute("UPDATE testapp_author SET name = %s WHERE name LIKE %s", ["50%", "100%%"])
    update_events = AuthorEvent.objects.filter(pgh_label="update").order_by("pgh_id")
    assert [e.email for e in update_events] == ["a%b@example.com", "a%b@example.com"]
    assert update_events.last().name == "50%"
    assert all(e.pgh_context_id is not None for e in update_events)


def test_metadata_with_quotes_and_percent_signs():
    with pghistory_core.context(note="it's 100% done", url="/a?b=%20"):
        Author.objects.create(name="q")
    assert Context.objects.get().metadata == {"note": "it's 100% done", "url": "/a?b=%20"}


def test_json_context_denormalised_into_the_event():
    with pghistory_core.context(user=3) as ctx:
        doc = Document.objects.create(body="hello")
    event = DocumentEvent.objects.get(pgh_obj=doc)
    assert event.pgh_context == {"user": 3}
    assert event.pgh_context_id == ctx.id
    with pghistory_core.context(user=4):
        Document.objects.filter(pk=doc.pk).update(body="bye")
    assert DocumentEvent.objects.get(pgh_label="update").pgh_context == {"user": 4}


@pytest.mark.django_db(transaction=True)
def test_async_context_manager():
    async def work():
        async with pghistory_core.context(source="async"):
            await Author.objects.acreate(name="async")
        await sync_to_async(connections.close_all)()

    asyncio.run(work())
    assert Context.objects.get().metadata == {"source": "async"}
    assert AuthorEvent.objects.get().pgh_context_id is not None


@pytest.mark.django_db(transaction=True)
def test_async_decorator():
    @pghistory_core.context(source="decorated")
    async def work():
        await sync_to_async(Author.objects.create)(name="decorated")

    async def run():
        await work()
        await sync_to_async(connections.close_all)()

    asyncio.run(run())
    assert Context.objects.get().metadata == {"source": "decorated"}


@pytest.mark.django_db(transaction=True)
def test_threads_do_not_leak_context():
    seen = []

    def other_thread():
        Author.objects.create(name="thread")
        seen.append(AuthorEvent.objects.get(name="thread").pgh_context_id)

    with pghistory_core.context(user=1):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        Author.objects.create(name="main")
    assert seen == [None]
    assert AuthorEvent.objects.get(name="main").pgh_context_id is not None


def test_bulk_statement_resolves_one_context():
    with pghistory_core.context(user=1):
        Author.objects.bulk_create([Author(name=f"n{i}") for i in range(100)])
        Author.objects.update(email="all@example.com")
    assert Context.objects.count() == 1
    assert AuthorEvent.objects.filter(pgh_context_id__isnull=True).count() == 0
    assert AuthorEvent.objects.count() == 200


@pytest.mark.django_db(transaction=True)
def test_a_context_closed_inside_a_transaction_lasts_until_it_ends():
    # As in django-pghistory 3.x: the settings are transaction-local.
    with transaction.atomic():
        with pghistory_core.context(user=1) as ctx:
            Author.objects.create(name="inside")
        Author.objects.create(name="after")
        with pytest.raises(RuntimeError), transaction.atomic():
            with pghistory_core.context(user=2):
                Author.objects.create(name="rolled back")
            raise RuntimeError
        # The savepoint's context went with it: the one before it is back.
        Author.objects.create(name="after the savepoint")
    Author.objects.create(name="next transaction")
    with transaction.atomic():
        Author.objects.create(name="next atomic block")
    contexts = dict(AuthorEvent.objects.values_list("name", "pgh_context_id"))
    assert contexts == {
        "inside": ctx.id,
        "after": ctx.id,
        "after the savepoint": ctx.id,
        "next transaction": None,
        "next atomic block": None,
    }
    assert list(Context.objects.values_list("id", flat=True)) == [ctx.id]


def test_rowcount_and_returning_are_unaffected():
    Author.objects.bulk_create([Author(name=f"r{i}") for i in range(3)])
    with pghistory_core.context(user=1):
        created = Author.objects.create(name="returning")
        assert isinstance(created.pk, int)
        assert Author.objects.filter(name__startswith="r").update(email="r@example.com") == 4
        assert Author.objects.filter(name__startswith="r").delete()[0] == 4


def test_server_side_cursors_are_left_alone():
    Author.objects.bulk_create([Author(name=f"i{i}") for i in range(5)])
    with transaction.atomic(), pghistory_core.context(user=1):
        # A read that mentions a write keyword (here in a literal) would get the context prefix;
        # a named cursor declares a cursor for exactly one query and cannot take one.
        with connection.chunked_cursor() as cursor:
            cursor.execute("WITH w AS (SELECT 'INSERT' AS word) SELECT word FROM w")
            assert cursor.fetchall() == [("INSERT",)]
        rows = list(Author.objects.select_for_update().iterator(chunk_size=2))
        Author.objects.filter(pk=rows[0].pk).update(email="locked@example.com")
    assert len(rows) == 5
    assert AuthorEvent.objects.get(pgh_label="update").pgh_context_id is not None


def test_context_settings_do_not_collide_with_django_pghistory():
    from pghistory_core import config

    assert config.CONTEXT_ID_SETTING.startswith("pghistory_core.")
    with pghistory_core.context(user=1), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('pghistory.context_id', 'theirs', false)")
        Author.objects.create(name="ours")
        cursor.execute("SELECT current_setting('pghistory.context_id')")
        assert cursor.fetchone() == ("theirs",)
        cursor.execute("SELECT set_config('pghistory.context_id', '', false)")


class _Prefixes:
    """An execute wrapper inside ours: counts the statements sent with the context settings."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += "set_config('pghistory_core.context_id'" in sql
        return execute(sql, params, many, context)


def _context_of(pk):
    return [
        (
            e.pgh_context_id,
            Context.objects.get(pk=e.pgh_context_id).metadata if e.pgh_context_id else None,
        )
        for e in AuthorEvent.objects.filter(pgh_obj_id=pk, pgh_label="update").order_by("pgh_id")
    ]


@pytest.mark.django_db(transaction=True)
def test_the_context_is_sent_once_per_transaction():
    author = Author.objects.create(name="a")
    prefixes = _Prefixes()
    with connection.execute_wrapper(prefixes), pghistory_core.context(user=1) as ctx:
        with transaction.atomic():
            for n in range(3):
                Author.objects.filter(pk=author.pk).update(email=f"{n}@example.com")
        assert prefixes.count == 1
        # A new transaction in the same context: the settings of the last one are gone.
        with transaction.atomic():
            Author.objects.filter(pk=author.pk).update(email="next@example.com")
        assert prefixes.count == 2
        # Autocommit: every write is its own transaction.
        Author.objects.filter(pk=author.pk).update(email="auto1@example.com")
        Author.objects.filter(pk=author.pk).update(email="auto2@example.com")
        assert prefixes.count == 4
    assert _context_of(author.pk) == [(ctx.id, {"user": 1})] * 6


@pytest.mark.django_db(transaction=True)
def test_changed_metadata_and_savepoint_rollbacks_send_it_again():
    author = Author.objects.create(name="a")
    prefixes = _Prefixes()
    with (
        connection.execute_wrapper(prefixes),
        pghistory_core.context(user=1) as ctx,
        transaction.atomic(),
    ):
        Author.objects.filter(pk=author.pk).update(email="1@example.com")
        pghistory_core.context(step=2)  # adds to the open context
        Author.objects.filter(pk=author.pk).update(email="2@example.com")
        assert prefixes.count == 2
        with pytest.raises(RuntimeError), transaction.atomic():
            Author.objects.filter(pk=author.pk).update(email="rolled-back@example.com")
            raise RuntimeError
        Author.objects.filter(pk=author.pk).update(email="3@example.com")
        assert prefixes.count == 3
    assert [e.email for e in AuthorEvent.objects.filter(pgh_label="update").order_by("pgh_id")] == [
        "1@example.com",
        "2@example.com",
        "3@example.com",
    ]
    # Every event carries the context as it was when written; the Context row holds the last.
    assert {c for c, _ in _context_of(author.pk)} == {ctx.id}
    assert Context.objects.get(pk=ctx.id).metadata == {"user": 1, "step": 2}


@pytest.mark.django_db(transaction=True)
def test_a_transaction_begun_outside_django_still_gets_the_context():
    # Committing through the driver (not through execute()) must not leave a stale "sent".
    author = Author.objects.create(name="a")
    with pghistory_core.context(user=7) as ctx:
        with transaction.atomic():
            Author.objects.filter(pk=author.pk).update(email="1@example.com")
        connection.set_autocommit(False)
        try:
            Author.objects.filter(pk=author.pk).update(email="2@example.com")
            connection.connection.commit()
            Author.objects.filter(pk=author.pk).update(email="3@example.com")
            connection.commit()
        finally:
            connection.set_autocommit(True)
    assert [c for c, _ in _context_of(author.pk)] == [ctx.id] * 3


@pytest.mark.parametrize("as_bytes", [False, True])
def test_sql_given_as_bytes_gets_the_context_too(as_bytes):
    """As in 3.x, a write whose SQL is bytes is sent with the context, with or without params."""
    with_params = f"INSERT INTO {Author._meta.db_table} (name, email) VALUES (%s, '')"
    without = f"INSERT INTO {Author._meta.db_table} (name, email) VALUES ('plain', '')"
    with (
        transaction.atomic(),
        pghistory_core.context(source="bytes") as ctx,
        connection.cursor() as cursor,
    ):
        cursor.execute(with_params.encode() if as_bytes else with_params, ["raw"])
        cursor.execute(without.encode() if as_bytes else without)
    events = list(AuthorEvent.objects.order_by("pgh_id"))
    assert [e.name for e in events] == ["raw", "plain"]
    assert {e.pgh_context_id for e in events} == {ctx.id}
    assert Context.objects.get(id=ctx.id).metadata == {"source": "bytes"}
