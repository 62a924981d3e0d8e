"""Faults: killed connections, statement timeouts, serialization failures, huge contexts.

A transaction that does not commit leaves no event and no row change, wherever it stops: between
statements, inside a statement, or inside the event trigger itself (made to wait there on the
``Context`` row, which another connection holds). After a killed connection Django reconnects,
and the context that was open still reaches the triggers.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pgtrigger
import pytest
from django.db import DatabaseError, OperationalError, connection, connections, transaction

import pghistory_core
from pghistory_core import guards
from pghistory_core.models import Context
from tests.testapp.models import (
    Author,
    AuthorEvent,
    Counter,
    CounterEvent,
    Document,
    DocumentEvent,
)

pytestmark = pytest.mark.django_db(transaction=True)

EVENT_MODELS = (AuthorEvent, CounterEvent, DocumentEvent)


def _pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _other_connection() -> Any:
    """A second connection of this thread to the test database."""
    return connections.create_connection("default")


def _terminate(pid: int) -> None:
    other = _other_connection()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone() == (True,)
    finally:
        other.close()


def _wait_until_blocked(pid: int, timeout: float = 30) -> None:
    """Wait until backend ``pid`` waits on a lock."""
    other = _other_connection()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with other.cursor() as cursor:
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                row = cursor.fetchone()
            if row == ("Lock",):
                return
            time.sleep(0.02)
        raise AssertionError(f"backend {pid} never waited on a lock")
    finally:
        other.close()


class ContextRowHolder:
    """Another connection inserts the Context row of ``context_id`` and keeps it uncommitted:
    a trigger writing an event in that context waits for it, inside the statement."""

    def __init__(self, context_id: Any) -> None:
        self.connection = _other_connection()
        self.connection.set_autocommit(False)
        with self.connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO pghistory_core_context (id, metadata, created_at, updated_at) "
                "VALUES (%s, '{}', NOW(), NOW())",
                [context_id],
            )

    def release(self) -> None:
        self.connection.rollback()
        self.connection.set_autocommit(True)
        self.connection.close()


def _snapshot() -> dict[str, Any]:
    """Every tracked row and event (of the models these tests write)."""
    return {
        "authors": sorted(Author.objects.values_list("pk", "name", "email")),
        "counters": sorted(Counter.objects.values_list("pk", "value")),
        "documents": sorted((str(pk), body) for pk, body in Document.objects.values_list()),
        "events": {
            m.__name__: sorted(m.objects.values_list("pgh_id", flat=True)) for m in EVENT_MODELS
        },
        "contexts": sorted(Context.objects.values_list("id", flat=True)),
    }


def _seed() -> None:
    Author.objects.bulk_create([Author(name=f"a{i}", email="before") for i in range(200)])
    Counter.objects.bulk_create([Counter(value=0) for _ in range(50)])


# --- killed connections ---------------------------------------------------------------------


def test_connection_killed_between_statements_leaves_nothing():
    _seed()
    before = _snapshot()
    with pghistory_core.context(step="work") as ctx:
        with pytest.raises(DatabaseError), transaction.atomic():
            Author.objects.update(email="during")
            Author.objects.create(name="new")
            Counter.objects.update(value=1)
            Document.objects.create(body="during")
            _terminate(_pid())
            Author.objects.create(name="after the kill")  # the dead connection raises

        # The connection is usable again and the still-open context reaches the trigger.
        connection.close_if_unusable_or_obsolete()
        assert _snapshot() == before
        author = Author.objects.create(name="reconnected")
    event = AuthorEvent.objects.get(pgh_obj=author)
    assert event.pgh_context_id == ctx.id
    # The Context row written by the killed transaction was rolled back; it is written again.
    assert Context.objects.get(pk=ctx.id).metadata == {"step": "work"}
    assert not AuthorEvent.objects.filter(name__in=["new", "after the kill"]).exists()


def test_connection_killed_in_autocommit_reconnects_with_context():
    author = Author.objects.create(name="a")
    _terminate(_pid())
    with pytest.raises(DatabaseError):
        Author.objects.filter(pk=author.pk).update(email="lost")
    connection.close_if_unusable_or_obsolete()
    with pghistory_core.context(step="after") as ctx:
        Author.objects.filter(pk=author.pk).update(email="kept")
    assert list(AuthorEvent.objects.order_by("pgh_id").values_list("email", "pgh_context")) == [
        ("", None),
        ("kept", ctx.id),
    ]


@pytest.mark.stress
@pytest.mark.parametrize("model", ["author", "counter"])  # statement-level, row-level triggers
def test_connection_killed_inside_the_trigger_leaves_nothing(model: str) -> None:
    _seed()
    before = _snapshot()
    ids: queue.Queue[Any] = queue.Queue()
    go = threading.Event()
    outcome: dict[str, Any] = {}

    def victim() -> None:
        try:
            with pghistory_core.context(step="victim") as ctx:
                ids.put(ctx.id)
                go.wait()
                ids.put(_pid())
                try:
                    with transaction.atomic():
                        Document.objects.create(body="first")
                        if model == "author":
                            Author.objects.update(email="during")
                        else:
                            Counter.objects.update(value=1)
                except DatabaseError as error:
                    outcome["error"] = error
                connection.close_if_unusable_or_obsolete()
                outcome["after"] = Document.objects.create(body="after").pk
                outcome["context"] = ctx.id
        except BaseException as error:
            outcome["unexpected"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=victim)
    thread.start()
    holder = None
    try:
        context_id = ids.get(timeout=30)
        holder = ContextRowHolder(context_id)
        go.set()
        pid = ids.get(timeout=30)
        _wait_until_blocked(pid)  # all rows are updated; the trigger waits for the Context row
        _terminate(pid)
    finally:
        go.set()
        if holder is not None:
            holder.release()
        thread.join(60)
    assert "unexpected" not in outcome, outcome
    assert isinstance(outcome.get("error"), DatabaseError)
    after = DocumentEvent.objects.get(pgh_obj_id=outcome["after"])
    assert after.pgh_context_id == outcome["context"]
    assert after.pgh_context == {"step": "victim"}
    Document.objects.filter(pk=outcome["after"]).delete()
    DocumentEvent.objects.filter(pgh_obj_id=outcome["after"]).delete()
    with pgtrigger.ignore(guards.CONTEXT_GUARD):  # the suite's role owns the table
        Context.objects.filter(pk=outcome["context"]).delete()
    assert _snapshot() == before


# --- statement timeouts ---------------------------------------------------------------------


def test_statement_timeout_during_a_big_update_leaves_nothing():
    Counter.objects.bulk_create([Counter(value=0) for _ in range(2000)])
    before = _snapshot()
    with (
        pghistory_core.context(step="slow"),
        pytest.raises(OperationalError, match="timeout"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL statement_timeout = '200ms'")
        # Each row sleeps: the statement is cancelled part way through its rows.
        cursor.execute(
            "UPDATE testapp_counter SET value = value + 1 + 0 * length(pg_sleep(0.001)::text)"
        )
    assert _snapshot() == before


@pytest.mark.parametrize("model", ["author", "counter"])
def test_statement_timeout_inside_the_trigger_leaves_nothing(model: str) -> None:
    _seed()
    before = _snapshot()
    with pghistory_core.context(step="slow") as ctx:
        holder = ContextRowHolder(ctx.id)
        try:
            with pytest.raises(OperationalError, match="timeout"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL statement_timeout = '300ms'")
                # Rows updated, then the trigger waits for the Context row until cancelled.
                if model == "author":
                    Author.objects.update(email="during")
                else:
                    Counter.objects.update(value=1)
        finally:
            holder.release()
    assert _snapshot() == before


def test_statement_timeout_in_a_savepoint_keeps_the_rest_of_the_transaction():
    _seed()
    first, second = Author.objects.order_by("pk")[:2]
    with transaction.atomic():
        Author.objects.filter(pk=first.pk).update(email="kept 1")
        with pghistory_core.context(step="slow") as ctx:
            holder = ContextRowHolder(ctx.id)
            try:
                with pytest.raises(OperationalError, match="timeout"), transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL statement_timeout = '300ms'")
                    Author.objects.update(email="lost")
            finally:
                holder.release()
        Author.objects.filter(pk=second.pk).update(email="kept 2")
    updates = AuthorEvent.objects.filter(pgh_label="update").order_by("pgh_id")
    assert [(e.pgh_obj_id, e.email, e.pgh_context_id) for e in updates] == [
        (first.pk, "kept 1", None),
        (second.pk, "kept 2", None),  # not the context of the rolled-back savepoint
    ]
    assert set(Author.objects.values_list("email", flat=True)) == {"before", "kept 1", "kept 2"}
    assert not Context.objects.exists()


# --- serialization failures -----------------------------------------------------------------


def _is_serialization_failure(error: BaseException) -> bool:
    cause = error.__cause__
    return (getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)) == "40001"


@pytest.mark.stress
def test_serialization_failure_retried_records_only_the_committed_attempt():
    a, b = Counter.objects.bulk_create([Counter(value=0), Counter(value=0)])
    author = Author.objects.create(name="log")
    steps = {name: threading.Event() for name in ("read1", "read2", "commit1")}
    attempts: dict[str, list[Any]] = {"one": [], "two": []}
    errors: list[BaseException] = []

    def work(name: str, mine: Counter, wait_before_write: str | None, done: str) -> None:
        try:
            for attempt in range(1, 5):
                try:
                    with (
                        pghistory_core.context(worker=name, attempt=attempt) as ctx,
                        transaction.atomic(),
                    ):
                        attempts[name].append(ctx.id)
                        with connection.cursor() as cursor:
                            cursor.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                        total = sum(Counter.objects.values_list("value", flat=True))
                        if attempt == 1:
                            steps[done].set()
                            if wait_before_write:
                                assert steps[wait_before_write].wait(30)
                        # Write skew: each transaction writes its row from the sum of both.
                        Counter.objects.filter(pk=mine.pk).update(value=total + 1)
                        Author.objects.filter(pk=author.pk).update(email=f"{name}-{attempt}")
                    break
                except OperationalError as error:
                    if not _is_serialization_failure(error):
                        raise
        except BaseException as error:
            errors.append(error)
        finally:
            if name == "one":
                steps["commit1"].set()
            connection.close()

    one = threading.Thread(target=work, args=("one", a, "read2", "read1"))
    two = threading.Thread(target=work, args=("two", b, "commit1", "read2"))
    one.start()
    assert steps["read1"].wait(30)
    two.start()
    one.join(60)
    two.join(60)
    assert not errors, errors
    assert len(attempts["one"]) == 1
    assert len(attempts["two"]) == 2, "the second transaction should have failed once"

    first, retry = attempts["two"]
    counter_events = {
        e.pgh_obj_id: e
        for e in CounterEvent.objects.filter(pgh_label="update").select_related("pgh_context")
    }
    assert counter_events.keys() == {a.pk, b.pk}
    assert counter_events[a.pk].value == 1
    assert counter_events[a.pk].pgh_context.metadata == {"worker": "one", "attempt": 1}
    assert counter_events[b.pk].value == 2  # the retry saw the first transaction's write
    assert counter_events[b.pk].pgh_context_id == retry
    assert counter_events[b.pk].pgh_context.metadata == {"worker": "two", "attempt": 2}
    author_updates = AuthorEvent.objects.filter(pgh_label="update").order_by("pgh_id")
    assert [(e.email, e.pgh_context_id) for e in author_updates] == [
        ("one-1", attempts["one"][0]),
        ("two-2", retry),
    ]
    assert not Context.objects.filter(pk=first).exists()
    assert sorted(Counter.objects.values_list("value", flat=True)) == [1, 2]


# --- hostile contexts -----------------------------------------------------------------------


def test_huge_context_metadata_is_recorded_whole():
    blob = "x" * 1_000_000
    keys = {f"k{i}": i for i in range(5000)}
    with pghistory_core.context(blob=blob, **keys), connection.cursor() as cursor:
        Author.objects.create(name="huge")
        cursor.execute("UPDATE testapp_author SET email = %s", ["100% 'quoted'"])
        Document.objects.create(body="huge")
    context = Context.objects.get()
    assert context.metadata == {"blob": blob, **keys}
    assert AuthorEvent.objects.filter(pgh_context=context).count() == 2
    assert DocumentEvent.objects.get().pgh_context == {"blob": blob, **keys}


@pytest.mark.parametrize("conforming", ["on", "off"])
def test_backslashes_and_quotes_in_metadata_whatever_standard_conforming_strings(conforming):
    # Some databases still run with standard_conforming_strings off (a role or database
    # setting): backslashes in string literals are escapes there.
    metadata = {"note": "back\\slash \\' 100% \\\\ end\\", "path": "C:\\new\\table"}
    with connection.cursor() as cursor:
        cursor.execute(f"SET standard_conforming_strings = {conforming}")
    try:
        with pghistory_core.context(**metadata), connection.cursor() as cursor:
            author = Author.objects.create(name="a")
            cursor.execute("UPDATE testapp_author SET email = %s", ["x\\y"])
            Document.objects.create(body="d")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET standard_conforming_strings = on")
    assert Context.objects.get().metadata == metadata
    assert AuthorEvent.objects.filter(pgh_obj=author).count() == 2
    assert DocumentEvent.objects.get().pgh_context == metadata
