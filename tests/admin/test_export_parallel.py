"""Parallel CSV export: several connections, one snapshot, the bytes of the serial export.

The tests commit their data (``transaction=True``): other connections cannot see a test's
transaction, which is also why an export inside an atomic block reads on its own connection.
"""

import csv
import gc
import io
import threading
import time
import tracemalloc

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_finished
from django.db import OperationalError, close_old_connections, connections, transaction

import pghistory_core
from pghistory_admin import conf
from pghistory_admin.export import (
    APPLICATION_NAME,
    BLOCK_SIZE,
    FAILURE_LINE,
    FIRST_CHUNK_SIZE,
    copy_chunks,
    csv_response,
    export_connections,
    parallel,
    spool,
)
from pghistory_admin.timeouts import is_timeout
from pghistory_core.models import Events
from tests.admin.export_oracle import csv_rows
from tests.admin.helpers import locked
from tests.admin.test_export import (  # noqa: F401 -- a fixture
    _json_normalised,
    varied_history,
)
from tests.testapp.models import Author, AuthorEvent

pytestmark = pytest.mark.django_db(transaction=True)


def _sql(query, params=()):
    """Run ``query`` on a connection of its own (not the test's, not the export's)."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else None
    finally:
        other.close()


def _export_backends():
    return _sql("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [APPLICATION_NAME])


def _export_threads():
    return [t for t in threading.enumerate() if t.name.startswith("pghistory-export-")]


def _wait_until_gone(timeout=10.0):
    """The export's backends and threads, after waiting up to ``timeout`` for them to end
    (a backend leaves pg_stat_activity shortly after its client closed the connection)."""
    deadline = time.monotonic() + timeout
    while (_export_backends() or _export_threads()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _export_backends(), _export_threads()


def _content(queryset, settings, connections_=2, **kwargs):
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = connections_
    return b"".join(copy_chunks(queryset, **kwargs))


def _many_authors(count):
    Author.objects.bulk_create(
        [Author(name=f"author {i:06}", email="x" * 100) for i in range(count)]
    )


@pytest.mark.usefixtures("varied_history")
@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("chunk_size", [1, 3, 10000])
def test_the_bytes_are_the_serial_exports(settings, workers, chunk_size):
    assert not connections["default"].in_atomic_block
    serial = _content(Events.objects.all(), settings, 0, chunk_size=chunk_size)
    parallel = _content(Events.objects.all(), settings, workers, chunk_size=chunk_size)
    assert parallel == serial
    rows = list(csv.reader(io.StringIO(parallel.decode())))
    assert len(rows) > 20
    assert _json_normalised(rows) == _json_normalised(list(csv_rows(Events.objects.all())))
    filtered = Events.objects.exclude(pgh_label="insert").filter(pgh_obj_model="testapp.Book")
    assert _content(filtered, settings, workers, chunk_size=chunk_size) == _content(
        filtered, settings, 0, chunk_size=chunk_size
    )


def test_the_connections_are_bounded_by_the_setting_and_closed(settings):
    _many_authors(3000)
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 3
    seen = set()
    lines = 0
    stream = copy_chunks(Events.objects.all(), chunk_size=100)
    for block in stream:
        lines += block.count(b"\n")
        backends = _export_backends()
        assert len(backends) <= 3
        seen.update(pid for (pid,) in backends)
    assert lines == 3001
    assert len(seen) == 3  # each one connection of its own, none re-opened
    assert _wait_until_gone() == ([], [])


@pytest.mark.parametrize(
    ("work_mem", "expected"), [("unset", "128MB"), (None, None), ("96MB", "96MB"), (8192, "8MB")]
)
def test_the_chunks_run_without_parallel_workers_with_their_work_mem(
    settings, monkeypatch, work_mem, expected
):
    """The export's connections are its parallelism (workers inside a plan would compete), and
    its chunks sort in ``PGHISTORY_ADMIN_EXPORT_WORK_MEM``; the request's connection keeps both."""
    _many_authors(300)
    if work_mem != "unset":
        settings.PGHISTORY_ADMIN_EXPORT_WORK_MEM = work_mem
    server = _sql(
        "SELECT current_setting('work_mem'), current_setting('max_parallel_workers_per_gather')"
    )
    seen = []
    run = parallel.copy_into

    def copy_into(connection, statement, write):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('work_mem'), "
                "current_setting('max_parallel_workers_per_gather')"
            )
            seen.append(cursor.fetchone())
        run(connection, statement, write)

    monkeypatch.setattr(parallel, "copy_into", copy_into)
    assert _content(Events.objects.all(), settings, 2, chunk_size=100).count(b"\n") == 301
    assert len(seen) >= 3 and set(seen) == {(expected or server[0][0], "0")}
    assert server[0][1] != "0"
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT current_setting('work_mem')")
        assert cursor.fetchone()[0] == server[0][0]


@pytest.mark.parametrize("value", ["lots", "128 mb", 12, "0MB", "3TB", True, 1.5, ["1MB"]])
def test_the_work_mem_setting_is_validated(settings, value):
    settings.PGHISTORY_ADMIN_EXPORT_WORK_MEM = value
    with pytest.raises(ImproperlyConfigured, match="PGHISTORY_ADMIN_EXPORT_WORK_MEM"):
        conf.export_work_mem()


def test_an_export_in_an_atomic_block_reads_its_uncommitted_rows(settings):
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 2
    with transaction.atomic():
        Author.objects.create(name="uncommitted")
        queryset = Events.objects.all()
        assert export_connections(queryset) == 0
        rows = list(csv.reader(io.StringIO(b"".join(copy_chunks(queryset)).decode())))
        assert len(rows) == 2 and "uncommitted" in rows[1][-2]
        assert _export_backends() == []
    assert export_connections(queryset) == 2


def test_every_chunk_reads_the_snapshot_of_the_export_start(settings):
    """A write committed while the export runs (a renamed user, a pruned event, a new one) is
    in none of its chunks, though most chunks are planned and read after it."""
    user = get_user_model().objects.create_user("before")
    with pghistory_core.context(user=user.pk):
        _many_authors(400)
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 0
    expected = b"".join(copy_chunks(Events.objects.all(), chunk_size=10))
    assert expected.count(b",before,") == 400

    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 2
    stream = copy_chunks(Events.objects.all(), chunk_size=10)
    content = [next(stream)]  # the header: the snapshot is shared from here on
    oldest = AuthorEvent.objects.order_by("pgh_id").first()
    _sql("UPDATE auth_user SET username = 'after' WHERE id = %s", [user.pk])
    _sql('DELETE FROM "testapp_authorevent" WHERE pgh_id = %s', [oldest.pgh_id])
    Author.objects.create(name="newer")
    content.extend(stream)
    assert b"".join(content) == expected
    # Read again, the export shows the changes.
    after = b"".join(copy_chunks(Events.objects.all(), chunk_size=10))
    assert after.count(b",after,") == 400 - 1 and b"newer" in after


@pytest.fixture
def small_chunks(monkeypatch):
    """Many chunks, so that the export's connections are busy or waiting when it is closed."""
    monkeypatch.setattr(parallel, "PARALLEL_CHUNK_SIZE", 1000)


def test_a_commit_between_the_connections_starts_is_in_no_chunk(settings, monkeypatch):
    """The second connection starts after a commit that followed the first one's start: it
    reads the first one's snapshot all the same (``SET TRANSACTION SNAPSHOT``)."""
    user = get_user_model().objects.create_user("before")
    with pghistory_core.context(user=user.pk):
        _many_authors(400)
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 0
    expected = b"".join(copy_chunks(Events.objects.all(), chunk_size=10))
    joined = parallel._Job.join
    numbers = []

    def join_after_a_commit(self, connection, number):
        if number == 1:  # the first connection exported its snapshot already
            with self.state.changed:
                self.state.changed.wait_for(lambda: self.state.snapshot is not None)
            _sql("UPDATE auth_user SET username = 'after' WHERE id = %s", [user.pk])
        joined(self, connection, number)
        numbers.append(number)

    monkeypatch.setattr(parallel._Job, "join", join_after_a_commit)
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 2
    assert b"".join(copy_chunks(Events.objects.all(), chunk_size=10)) == expected
    assert sorted(numbers) == [0, 1]
    assert b",after," in b"".join(copy_chunks(Events.objects.all(), chunk_size=10))


def test_closing_the_response_mid_stream_closes_the_connections(settings, small_chunks):
    _many_authors(60_000)
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 2
    response = csv_response(Events.objects.all(), filename="all.csv")  # ran the first chunk
    assert len(_export_backends()) == 2
    stream = iter(response.streaming_content)
    lines = 0
    while lines <= FIRST_CHUNK_SIZE + 1:  # into the next COPY's output
        lines += next(stream).count(b"\n")
    # What a server does when the client goes away (Django's handler would then close the
    # request's own connection, which the export does not use).
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
    assert _wait_until_gone() == ([], [])
    assert Author.objects.count() == 60_000


def test_a_response_closed_before_it_is_read_closes_the_connections(settings, small_chunks):
    _many_authors(2000)
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 2
    response = csv_response(Events.objects.all(), filename="all.csv")
    assert len(_export_backends()) == 2
    response.close()
    assert _wait_until_gone() == ([], [])


def test_a_dropped_export_closes_its_connections(settings):
    _many_authors(2000)
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 2
    stream = copy_chunks(Events.objects.all(), chunk_size=100)
    next(stream)
    next(stream)
    assert len(_export_backends()) == 2
    del stream
    gc.collect()
    assert _wait_until_gone() == ([], [])


def test_a_lost_connection_mid_stream_fails_the_download(settings, small_chunks):
    _many_authors(FIRST_CHUNK_SIZE + 5000)
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 2
    response = csv_response(Events.objects.all(), filename="all.csv")  # the first chunk ran
    stream = iter(response.streaming_content)
    received = [next(stream)]
    _sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        [APPLICATION_NAME],
    )
    with pytest.raises(OperationalError):
        received.extend(stream)
    body = b"".join(received)
    assert body.endswith(FAILURE_LINE)
    assert body.count(b"\n") < FIRST_CHUNK_SIZE + 5000
    response.close()
    assert _wait_until_gone() == ([], [])


def test_a_first_chunk_that_times_out_is_an_error_before_the_response(settings, admin_client):
    _many_authors(10)
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 2
    settings.PGHISTORY_ADMIN_STATEMENT_TIMEOUT = 0.3
    with locked(AuthorEvent), pytest.raises(OperationalError) as raised:
        csv_response(Events.objects.all(), filename="all.csv")
    assert is_timeout(raised.value)
    assert _wait_until_gone() == ([], [])
    with locked(AuthorEvent):
        response = admin_client.get("/admin/pghistory_admin/auditlog/export/")
    assert response.status_code == 503
    assert _wait_until_gone() == ([], [])


def test_a_large_parallel_export_streams_in_bounded_memory(settings, monkeypatch):
    events = 50_000
    _many_authors(events)
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 2
    monkeypatch.setattr(spool, "MEMORY", BLOCK_SIZE)  # the next chunk waits in a file
    pieces = lines = total = largest = 0
    tracemalloc.start()
    try:
        for piece in copy_chunks(Events.objects.all(), chunk_size=20_000):
            pieces += 1
            lines += piece.count(b"\n")
            total += len(piece)
            largest = max(largest, len(piece))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == events + 1
    assert largest < 2 * BLOCK_SIZE
    # At most a spool's memory per connection and a few blocks, whatever the export's size.
    assert peak < 2 * spool.MEMORY + 4 * largest + 2**20 and peak < total / 4, (peak, total)
    assert _wait_until_gone() == ([], [])


@pytest.mark.parametrize("value", [-1, "2", 1.5, True])
def test_the_connection_setting_is_validated(settings, value):
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = value
    with pytest.raises(ImproperlyConfigured, match="PGHISTORY_ADMIN_EXPORT_CONNECTIONS"):
        conf.export_connections()
