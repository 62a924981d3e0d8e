"""Streaming CSV export of the event stream."""

import csv
import io
import json
import re
import tracemalloc
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.signals import request_finished
from django.db import OperationalError, close_old_connections, connection, connections
from django.db.backends.postgresql.psycopg_any import is_psycopg3
from django.db.models import TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import pghistory_core
from pghistory_admin.conf import MASK
from pghistory_admin.export import (
    BLOCK_SIZE,
    COPY_CHUNK_SIZE,
    FORMULA_PREFIXES,
    copy_chunks,
    csv_response,
    neutralise,
)
from pghistory_core.models import Events, MiddlewareEvents
from tests.admin.export_oracle import csv_rows
from tests.admin.helpers import locked
from tests.testapp.models import (
    Author,
    AuthorEvent,
    Book,
    Code,
    Counter,
    Document,
    DocumentEvent,
    LedgerEntry,
    Note,
    Restaurant,
    Ticket,
)

pytestmark = pytest.mark.django_db

FIXED = [
    "pgh_id",
    "created_at",
    "model",
    "object_id",
    "action",
    "label",
    "user_id",
    "user",
    "url",
    "command",
    "db_role",
    "application_name",
    "client_addr",
    "context_id",
]
HEADER = [*FIXED, "context", "data", "diff"]


def export(queryset, **kwargs):
    header, *rows = csv_rows(queryset, **kwargs)
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def test_header_and_rows(author):
    user = get_user_model().objects.create_user("ann")
    with pghistory_core.context(user=user.pk, url="/admin/", request_id="r1"):
        author.email = "new@example.com"
        author.save()
    header, rows = export(Events.objects.across("testapp.AuthorEvent"))
    assert header == HEADER
    update, insert = rows
    events = list(Events.objects.across("testapp.AuthorEvent").order_by("-pgh_id"))
    assert [int(r["pgh_id"]) for r in rows] == [e.pgh_id for e in events]
    assert update["model"] == "testapp.Author"
    assert update["object_id"] == str(author.pk)
    assert (update["action"], update["label"]) == ("updated", "update")
    assert update["context_id"] == str(events[0].pgh_context_id)
    assert (update["url"], update["user_id"], update["user"]) == ("/admin/", str(user.pk), "ann")
    assert json.loads(update["context"]) == {"request_id": "r1"}
    assert json.loads(update["data"]) == {
        "id": author.pk,
        "name": "Ursula",
        "email": "new@example.com",
    }
    assert json.loads(update["diff"]) == {"email": ["ursula@example.com", "new@example.com"]}
    assert (insert["action"], insert["label"], insert["context_id"], insert["url"]) == (
        "created",
        "insert",
        "",
        "",
    )
    assert (insert["user"], insert["context"], insert["diff"]) == ("", "", "")


def test_timestamps_are_full_iso_with_offset(author):
    event = Events.objects.get()
    with timezone.override("Asia/Kolkata"):
        _, rows = export(Events.objects.all())
    value = rows[0]["created_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+05:30", value)
    assert datetime.fromisoformat(value) == event.pgh_created_at


def test_the_columns_do_not_depend_on_the_filter(author):
    with pghistory_core.context(command="seed", command_args=["--fast", 2]):
        Book.objects.create(title="b", author=author)
    with pghistory_core.context(user=1, job="nightly"):
        author.email = "x@example.com"
        author.save()
    for queryset in (
        Events.objects.across("testapp.AuthorEvent"),
        Events.objects.all(),
        Events.objects.filter(pgh_context_id__isnull=True),
        Events.objects.none(),
    ):
        assert export(queryset)[0] == HEADER
        assert copy_rows(queryset)[0] == HEADER
    _, rows = export(Events.objects.filter(pgh_obj_model="testapp.Book"))
    assert (rows[0]["command"], rows[0]["context"]) == ("seed --fast 2", "")
    _, rows = export(Events.objects.filter(pgh_label="update"))
    assert (rows[0]["user_id"], rows[0]["user"]) == ("1", "")  # no such user
    assert json.loads(rows[0]["context"]) == {"job": "nightly"}


def test_configured_context_keys_get_columns_of_their_own(author, settings):
    settings.PGHISTORY_ADMIN_EXPORT_CONTEXT_COLUMNS = ["job", "label"]
    with pghistory_core.context(job="nightly", label="mine", other=1):
        author.email = "x@example.com"
        author.save()
    header, rows = export(Events.objects.all())
    assert header == [*FIXED, "context.job", "context.label", "context", "data", "diff"]
    assert (rows[0]["label"], rows[0]["context.job"], rows[0]["context.label"]) == (
        "update",
        "nightly",
        "mine",
    )
    assert json.loads(rows[0]["context"]) == {"other": 1}
    assert rows[1]["context.job"] == ""
    assert _json_normalised(list(csv_rows(Events.objects.all()))) == _json_normalised(
        [copy_rows(Events.objects.all())[0]]
        + [list(row.values()) for row in copy_rows(Events.objects.all())[1]]
    )


def test_too_many_context_columns_are_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.PGHISTORY_ADMIN_EXPORT_CONTEXT_COLUMNS = [f"k{i}" for i in range(101)]
    with pytest.raises(ImproperlyConfigured, match="at most 100"):
        next(csv_rows(Events.objects.all()))


def test_thousands_of_context_keys_fit_in_one_column(author):
    """More distinct keys than Postgres allows columns: one JSON column holds them."""
    for start in range(0, 2000, 500):
        with pghistory_core.context(**{f"key{i:04}": i for i in range(start, start + 500)}):
            Author.objects.create(name=f"a{start}")
    content = b"".join(copy_chunks(Events.objects.all())).decode()
    header, *rows = csv.reader(io.StringIO(content))
    assert header == HEADER
    assert len(rows) == 5
    keys = set()
    for row in rows:
        keys |= set(json.loads(row[header.index("context")] or "{}"))
    assert len(keys) == 2000


def test_denormalised_json_contexts_are_exported():
    with pghistory_core.context(job="nightly", url="/jobs/"):
        Document.objects.create(body="hello")
    for header, rows in (
        export(Events.objects.across("testapp.DocumentEvent")),
        copy_rows(Events.objects.across("testapp.DocumentEvent")),
    ):
        assert header == HEADER
        assert (rows[0]["url"], json.loads(rows[0]["context"])) == ("/jobs/", {"job": "nightly"})


def test_secret_context_keys_are_masked_inside_the_context_column(author, settings):
    settings.PGHISTORY_ADMIN_SECRET_FIELDS = ["*pin*", "c[ao]de", "x?"]
    with pghistory_core.context(pin_code="1", code="2", cade="3", cude="4", xy="5", xyz="6"):
        author.email = "x@example.com"
        author.save()
    expected = {"pin_code": MASK, "code": MASK, "cade": MASK, "cude": "4", "xy": MASK, "xyz": "6"}
    assert json.loads(export(Events.objects.all())[1][0]["context"]) == expected
    assert json.loads(copy_rows(Events.objects.all())[1][0]["context"]) == expected


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("-2", "'-2"),
        ("+x", "'+x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        ("", ""),
    ],
)
def test_neutralise(value, cell):
    assert neutralise(value) == cell


def test_formula_cells_are_neutralised_in_the_export(author, settings):
    settings.PGHISTORY_ADMIN_EXPORT_CONTEXT_COLUMNS = ["formula", "at", "minus", "plus"]
    user = get_user_model().objects.create_user("=cmd|' /C calc'!A0")
    with pghistory_core.context(
        formula="=1+1", at="@SUM(A1)", minus=-2, plus="+x", user=user.pk, url="=u", command="-c"
    ):
        Author.objects.create(name="=HYPERLINK(1)")
    header, rows = export(Events.objects.all())
    assert header[-7:] == [
        "context.formula",
        "context.at",
        "context.minus",
        "context.plus",
        "context",
        "data",
        "diff",
    ]
    row = rows[0]
    assert (row["user"], row["url"], row["command"]) == ("'=cmd|' /C calc'!A0", "'=u", "'-c")
    assert (
        row["context.formula"],
        row["context.at"],
        row["context.minus"],
        row["context.plus"],
    ) == (
        "'=1+1",
        "'@SUM(A1)",
        "'-2",
        "'+x",
    )
    assert json.loads(row["data"])["name"] == "=HYPERLINK(1)"
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())


def test_keyset_chunks_return_every_row_in_order(django_assert_num_queries):
    Author.objects.bulk_create([Author(name=f"a{i}") for i in range(10)])
    expected = list(Events.objects.order_by("-pgh_id").values_list("pgh_id", flat=True))
    assert len(expected) == 10
    # ceil(10 / 3) = 4 chunk queries (no user recorded: no user query)
    with django_assert_num_queries(4), CaptureQueriesContext(connection) as captured:
        _, rows = export(Events.objects.across("testapp.AuthorEvent"), chunk_size=3)
    assert [int(r["pgh_id"]) for r in rows] == expected
    chunks = [q["sql"] for q in captured.captured_queries]
    assert all(re.search(r"LIMIT 3$", sql) and "OFFSET" not in sql for sql in chunks)
    assert all('"pgh_id" < ' in sql for sql in chunks[1:])


def test_exact_multiple_of_chunk_size_ends_with_one_empty_chunk(django_assert_num_queries):
    Author.objects.bulk_create([Author(name=f"a{i}") for i in range(6)])
    with django_assert_num_queries(3):
        _, rows = export(Events.objects.across("testapp.AuthorEvent"), chunk_size=3)
    assert len(rows) == 6


def test_rows_are_generated_lazily():
    Author.objects.bulk_create([Author(name=f"a{i}") for i in range(10)])
    rows = csv_rows(Events.objects.across("testapp.AuthorEvent"), chunk_size=3)
    with CaptureQueriesContext(connection) as captured:
        next(rows)  # header
        next(rows)
    assert len(captured.captured_queries) == 1  # the first chunk only


def test_users_are_looked_up_once_per_chunk(django_assert_num_queries):
    users = [get_user_model().objects.create_user(f"u{i}") for i in range(3)]
    for user in users:
        with pghistory_core.context(user=user.pk):
            Author.objects.create(name=user.username)
    with django_assert_num_queries(2 * 2):  # 2 chunks, each with its users
        _, rows = export(Events.objects.across("testapp.AuthorEvent"), chunk_size=2)
    assert [r["user"] for r in rows] == ["u2", "u1", "u0"]


def test_across_scoping_is_respected(book):
    with pghistory_core.context(user=1):
        book.title = "Renamed"
        book.save()
    _, rows = export(MiddlewareEvents.objects.across("testapp.AuthorEvent"))
    assert {r["model"] for r in rows} == {"testapp.Author"}
    _, rows = export(Events.objects.across("testapp.BookEvent").tracks(book))
    assert [r["label"] for r in rows] == ["update", "insert"]
    assert {r["model"] for r in rows} == {"testapp.Book"}


def test_filtered_queryset_is_respected(book):
    book.title = "Renamed"
    book.save()
    _, rows = export(Events.objects.filter(pgh_label="update"))
    assert [(r["model"], r["label"]) for r in rows] == [("testapp.Book", "update")]


def test_csv_response_streams_an_attachment(author):
    with pghistory_core.context(note='multi\nline, "quoted"'):
        author.email = "x@example.com"
        author.save()
    response = csv_response(Events.objects.all(), filename="audit log.csv")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="audit log.csv"'
    content = b"".join(response.streaming_content).decode()
    parsed = list(csv.reader(io.StringIO(content)))
    assert _json_normalised(parsed) == _json_normalised(list(csv_rows(Events.objects.all())))
    assert json.loads(parsed[1][parsed[0].index("context")]) == {"note": 'multi\nline, "quoted"'}


def _json_normalised(rows):
    """Rows with the data and diff cells parsed: Postgres and Python order JSON keys differently."""
    header, *body = rows
    json_columns = [header.index("context"), header.index("data"), header.index("diff")]
    return [header] + [
        [json.loads(cell) if i in json_columns and cell else cell for i, cell in enumerate(row)]
        for row in body
    ]


@pytest.mark.parametrize(
    ("chunk_size", "zone", "offset"),
    [(1, "Asia/Kolkata", "+05:30"), (2, "America/St_Johns", "-0"), (10000, "UTC", "+00:00")],
)
def test_copy_export_matches_the_python_rows(author, book, chunk_size, zone, offset, settings):
    settings.PGHISTORY_ADMIN_EXPORT_CONTEXT_COLUMNS = ["request_id", "note"]
    user = get_user_model().objects.create_user("=ann")
    with pghistory_core.context(user=user.pk, request_id="=cmd()", note="-2", extra=[1, None]):
        author.email = "@evil"
        author.save()
        book.title = "+SUM(A1)"
        book.save()
    with timezone.override(zone):
        content = b"".join(copy_chunks(Events.objects.all(), chunk_size=chunk_size)).decode()
        expected = list(csv_rows(Events.objects.all()))
    parsed = list(csv.reader(io.StringIO(content)))
    assert _json_normalised(parsed) == _json_normalised(expected)
    assert parsed[1][1][-6:].startswith(offset)
    assert "'=cmd()" in parsed[1] and "'-2" in parsed[1] and "'=ann" in parsed[1]
    with pghistory_core.context(user="007", command="=x", command_args=["a", 1, None, True]):
        author.email = "again@example.com"
        author.save()
    for value in (f"{user.pk:03}", str(user.pk)):
        with pghistory_core.context(user=value):
            author.email = value
            author.save()
    content = b"".join(copy_chunks(Events.objects.all(), chunk_size=chunk_size)).decode()
    parsed = list(csv.reader(io.StringIO(content)))
    assert _json_normalised(parsed) == _json_normalised(list(csv_rows(Events.objects.all())))
    users = [row[parsed[0].index("user")] for row in parsed[1:4]]
    assert users == ["'=ann", "", ""]  # the exact id text only
    assert parsed[3][parsed[0].index("command")] == "'=x a 1 null true"


def test_copy_export_respects_filters_and_scope(author, book):
    queryset = Events.objects.across("testapp.BookEvent")
    parsed = list(csv.reader(io.StringIO(b"".join(copy_chunks(queryset)).decode())))
    assert {row[2] for row in parsed[1:]} == {"testapp.Book"}
    assert len(parsed) == 1 + queryset.count()


# --- one-pass diffs in the COPY path ------------------------------------------------------------


def copy_rows(queryset, **kwargs):
    """The COPY export parsed: header, then rows as dicts."""
    content = b"".join(copy_chunks(queryset, **kwargs)).decode()
    header, *rows = csv.reader(io.StringIO(content))
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def postgres_text(queryset):
    """``{pgh_id: (data, diff)}`` as Postgres prints the aggregate's ``jsonb`` columns."""
    rows = (
        queryset.by_attname()
        .annotate(data_text=Cast("pgh_data", TextField()), diff_text=Cast("pgh_diff", TextField()))
        .values_list("pgh_id", "data_text", "diff_text")
    )
    return {pk: (data, diff or "") for pk, data, diff in rows}


def assert_cells_are_postgres_text(queryset, **kwargs):
    """data/diff cells equal, byte for byte, Postgres' own text of pgh_data/pgh_diff; returns rows."""
    _, rows = copy_rows(queryset, **kwargs)
    expected = postgres_text(queryset)
    assert [int(r["pgh_id"]) for r in rows] == sorted(expected, reverse=True)
    for row in rows:
        assert (row["data"], row["diff"]) == expected[int(row["pgh_id"])], row["pgh_id"]
    return rows


@pytest.fixture
def varied_history(author, book):
    """Events of every kind of column, event table and change the test models have."""
    with pghistory_core.context(user=1, url="/x"):
        book.data = {
            "a": None,
            "é": 'quo"ted\\\n\x01',
            "n": {"x": None, "y": [1, None, {"z": None}]},
        }
        book.title = 'Ünïcode "quotes" \\ back\tslash\x02'
        book.save()
        book.price = "12.50"
        book.status = "published"
        book.save()
        book.data = {"a": 1, "n": {"x": None}}
        book.save()
    Counter.objects.create(id=2**40, value=-5).delete()
    counter = Counter.objects.create(value=1)
    counter.value = 2
    counter.save()
    with pghistory_core.context(job="docs"):
        document = Document.objects.create(body="a")
        document.body = "b"
        document.save()
    restaurant = Restaurant.objects.create(name="R", serves_pizza=False)
    restaurant.serves_pizza = True
    restaurant.save()
    ticket = Ticket.objects.create(priority=7)
    ticket.assignee = "ann"
    ticket.save()
    ticket.status = "closed"
    ticket.save()
    Code.objects.create(code="a", value=1)
    Code.objects.filter(code="a").update(code="=z")  # a new primary key: no predecessor
    Code.objects.filter(code="=z").update(value=2)
    author.email = "changed@example.com"
    author.save()
    Author.objects.create(name="Gone", email="gone@example.com").delete()
    Note.objects.create(text="n")
    # numeric and float columns: compared as jsonb, their pairs printed without building arrays
    entry = LedgerEntry.objects.create(account="a", amount="1.00", rate=0.1)
    for rate in (1e20, float("nan"), None, -0.0, 2.5e-8, float("-inf")):
        entry.rate = rate
        entry.save()
    entry.amount = "-3.25"
    entry.save()
    # Compared as stored where the type's equality is jsonb's: -0.0 equals 0.0, key order and
    # spacing do not count, and a date, a time stamp or a binary value counts when it changes.
    entry.rate, entry.data = 0.0, {"a": 1, "b": [2]}
    entry.save()
    LedgerEntry.objects.filter(pk=entry.pk).update(
        rate=RawSQL("'-0'::double precision", ()), data={"b": [2], "a": 1}, account="b"
    )
    entry.refresh_from_db()
    # A numeric that is not a JSON number prints as a string, as in jsonb.
    LedgerEntry.objects.filter(pk=entry.pk).update(amount=RawSQL("'NaN'::numeric", ()))
    LedgerEntry.objects.filter(pk=entry.pk).update(amount="0.50")
    entry.refresh_from_db()
    entry.booked_on, entry.booked_at, entry.blob = (
        date(2026, 1, 2),
        datetime(2026, 1, 2, 3, tzinfo=UTC),
        b"\0",
    )
    entry.save()
    entry.booked_at, entry.blob = datetime(2026, 1, 2, 3, 0, 0, 1, tzinfo=UTC), b"\0\1"
    entry.save()


@pytest.mark.parametrize("chunk_size", [1, 3, 10000])
def test_copy_cells_are_the_text_postgres_prints(varied_history, chunk_size):
    rows = assert_cells_are_postgres_text(Events.objects.all(), chunk_size=chunk_size)
    assert len(rows) >= 20
    assert {r["diff"] for r in rows} >= {""}  # first events have no diff
    # The JSON diff strips null fields inside changed values, as jsonb_strip_nulls does.
    book = next(r for r in rows if r["model"] == "testapp.Book" and '"data"' in r["diff"])
    assert '"x": null' not in book["diff"] and '"x": null' in book["data"]
    ledger = {r["diff"] for r in rows if r["model"] == "testapp.LedgerEntry"}
    assert ledger >= {
        '{"rate": [0.1, 100000000000000000000]}',
        '{"rate": [100000000000000000000, "NaN"]}',
        '{"rate": ["NaN", null]}',
        '{"amount": [1.00, -3.25]}',
        '{"account": ["a", "b"]}',
        '{"amount": [-3.25, "NaN"]}',
        '{"amount": ["NaN", 0.50]}',
    }
    assert sum('"blob": [' in diff and '"booked_at": [' in diff for diff in ledger) == 2


def test_copy_export_is_the_same_in_any_chunking(varied_history):
    contents = {
        size: b"".join(copy_chunks(Events.objects.all(), chunk_size=size))
        for size in (1, 2, 7, 10000)
    }
    assert len(set(contents.values())) == 1
    filtered = Events.objects.exclude(pgh_label="insert")
    contents = {size: b"".join(copy_chunks(filtered, chunk_size=size)) for size in (1, 4, 10000)}
    assert len(set(contents.values())) == 1


def test_predecessor_outside_a_date_filter_still_counts(author):
    author.email = "second@example.com"
    author.save()
    author.email = "third@example.com"
    author.save()
    newest = Events.objects.order_by("-pgh_id").values_list("pgh_id", flat=True)[0]
    # Events of one test transaction share a timestamp: make the older ones a day older.
    AuthorEvent.objects.exclude(pgh_id=newest).update(pgh_created_at=timezone.now() - timedelta(1))
    for queryset in (
        Events.objects.filter(pgh_created_at__gte=timezone.now() - timedelta(hours=1)),
        Events.objects.filter(pgh_id__gte=newest),  # a range only: no filter to apply again
    ):
        rows = assert_cells_are_postgres_text(queryset)
        assert [json.loads(r["diff"]) for r in rows] == [
            {"email": ["second@example.com", "third@example.com"]}
        ]


@pytest.mark.parametrize("chunk_size", [1, 10000])
def test_predecessor_outside_a_label_filter_still_counts(author, chunk_size):
    """The export keeps updates only; each diffs against the event just before, whatever it is."""
    pghistory_core.create_event(author, label="snapshot")
    author.email = "second@example.com"
    author.save()
    Author.objects.filter(pk=author.pk).update(name="Renamed")
    pghistory_core.create_event(Author.objects.get(pk=author.pk), label="snapshot")
    Author.objects.filter(pk=author.pk).update(name="Again")
    queryset = Events.objects.filter(pgh_label="update")
    rows = assert_cells_are_postgres_text(queryset, chunk_size=chunk_size)
    assert [json.loads(r["diff"]) for r in rows] == [
        {"name": ["Renamed", "Again"]},
        {"name": ["Ursula", "Renamed"]},
        {"email": ["ursula@example.com", "second@example.com"]},
    ]


def test_deleted_object_diffs_against_its_last_event(author, book):
    book.delete()
    author.delete()
    queryset = Events.objects.filter(pgh_label="delete")
    rows = assert_cells_are_postgres_text(queryset)
    assert [(r["model"], json.loads(r["diff"])) for r in rows] == [
        ("testapp.Author", {}),
        ("testapp.Book", {}),
    ]
    assert json.loads(rows[0]["data"])["email"] == "ursula@example.com"


def test_primary_key_change_starts_a_new_object(db):
    Code.objects.create(code="a", value=1)
    Code.objects.filter(code="a").update(code="b")
    Code.objects.filter(code="b").update(value=2)
    queryset = Events.objects.across("testapp.CodeEvent").filter(pgh_label="update")
    rows = assert_cells_are_postgres_text(queryset)
    assert [(r["object_id"], r["diff"]) for r in rows] == [
        ("b", json.dumps({"value": [1, 2]})),
        ("b", ""),  # the first event recorded under the new key: nothing to diff against
    ]


def test_objects_of_a_filtered_chunk_keep_their_predecessors(author, book):
    """A sparse chunk (most ids filtered out) only reads the events of its objects."""
    for i in range(5):
        author.email = f"a{i}@example.com"
        author.save()
        book.title = f"t{i}"
        book.save()
    queryset = Events.objects.filter(pgh_obj_model="testapp.Book", pgh_label="update")
    rows = assert_cells_are_postgres_text(queryset, chunk_size=2)
    assert [json.loads(r["diff"])["title"] for r in rows][:2] == [["t3", "t4"], ["t2", "t3"]]


def test_empty_exports_have_a_header_only(author):
    for queryset in (Events.objects.none(), Events.objects.filter(pgh_label="nothing")):
        assert copy_rows(queryset) == (HEADER, [])


# --- secrets and formula injection ---------------------------------------------------------------


def test_secret_fields_are_masked_in_both_paths(author):
    author.email = "second@example.com"
    author.save()
    with override_settings(PGHISTORY_ADMIN_SECRET_FIELDS=["testapp.author.email"]):
        content = b"".join(copy_chunks(Events.objects.all())).decode()
        python_rows = list(csv_rows(Events.objects.all()))
    assert "example.com" not in content
    parsed = list(csv.reader(io.StringIO(content)))
    assert _json_normalised(parsed) == _json_normalised(python_rows)
    header, update, insert = parsed
    data, diff = header.index("data"), header.index("diff")
    assert json.loads(update[data]) == {"id": author.pk, "name": "Ursula", "email": MASK}
    assert json.loads(update[diff]) == {"email": [MASK, MASK]}
    assert json.loads(insert[data])["email"] == MASK and insert[diff] == ""


def test_unchanged_secret_stays_out_of_the_diff(author):
    author.name = "Renamed"
    author.save()
    with override_settings(PGHISTORY_ADMIN_SECRET_FIELDS=["*mail"]):
        _, rows = copy_rows(Events.objects.all())
    assert json.loads(rows[0]["diff"]) == {"name": ["Ursula", "Renamed"]}


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_copy_export_neutralises_formula_cells(db, prefix, settings):
    settings.PGHISTORY_ADMIN_EXPORT_CONTEXT_COLUMNS = [f"{prefix}key", "plain"]
    with pghistory_core.context(**{f"{prefix}key": f"{prefix}value", "plain": f"x{prefix}"}):
        Code.objects.create(code=f"{prefix}1")
    header, *rows = list(
        csv.reader(io.StringIO(b"".join(copy_chunks(Events.objects.all())).decode()))
    )
    assert header == [*FIXED, f"context.{prefix}key", "context.plain", "context", "data", "diff"]
    (row,) = rows
    cells = dict(zip(header, row, strict=True))
    assert cells["object_id"] == f"'{prefix}1"
    assert cells[f"context.{prefix}key"] == f"'{prefix}value"
    assert cells["context.plain"] == f"x{prefix}"
    assert json.loads(cells["data"]) == {"code": f"{prefix}1", "value": 0}
    assert all(not cell.startswith(FORMULA_PREFIXES) for cell in row)


def test_negative_object_ids_are_neutralised(db):
    Counter.objects.create(id=-7, value=1)
    _, rows = copy_rows(Events.objects.all())
    assert rows[0]["object_id"] == "'-7"


# --- streaming and cancellation -----------------------------------------------------------------


def _many_authors(count):
    Author.objects.bulk_create(
        [Author(name=f"author {i:06}", email="x" * 100) for i in range(count)]
    )


def test_a_large_export_streams_in_bounded_memory(db):
    events = 50_000
    _many_authors(events)
    response = csv_response(Events.objects.all(), filename="all.csv")
    assert isinstance(response, StreamingHttpResponse)
    pieces = lines = total = largest = 0
    tracemalloc.start()
    try:
        for piece in response.streaming_content:
            pieces += 1
            lines += piece.count(b"\n")
            total += len(piece)
            largest = max(largest, len(piece))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        response.close()
    assert lines == events + 1
    if is_psycopg3:  # handed over in blocks while Postgres produces the rows
        assert pieces >= total // BLOCK_SIZE and largest < 2 * BLOCK_SIZE
    else:  # one piece per COPY statement of COPY_CHUNK_SIZE events
        assert pieces >= events // COPY_CHUNK_SIZE and largest < total / 4
    # Never more than a few pieces in memory, far from the whole export.
    assert peak < 3 * largest + 2**20 and peak < total / 2, (peak, largest, total)


def _activity(pid):
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT state, query FROM pg_stat_activity WHERE pid = %s", [pid])
            return cursor.fetchone()
    finally:
        other.close()


def _rollbacks():
    """Transactions rolled back in this database (the server's statistics, flushed first)."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()"
            )
            return cursor.fetchone()[0]
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_closing_the_response_cancels_the_export_query(settings):
    # On the request's connection (the parallel export: tests/admin/test_export_parallel.py).
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 0
    _many_authors(60_000)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), pg_stat_force_next_flush()")
        pid = cursor.fetchone()[0]
    before = _rollbacks()
    from pghistory_admin.export import FIRST_CHUNK_SIZE

    response = csv_response(Events.objects.all(), filename="all.csv")  # ran the first chunk
    stream = iter(response.streaming_content)
    lines = 0
    while lines <= FIRST_CHUNK_SIZE + 1:  # the header, the first chunk, then the next COPY's
        lines += next(stream).count(b"\n")
    # What a server does when the client goes away; the test client would keep the connection
    # open the same way (Django's handler would close it after the request).
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
    state, query = _activity(pid)
    assert state == "idle", (state, query)
    with connection.cursor() as cursor:  # the same connection, usable
        cursor.execute("SELECT pg_backend_pid(), pg_stat_force_next_flush()")
        assert cursor.fetchone()[0] == pid
    assert Author.objects.count() == 60_000
    if is_psycopg3:
        # The COPY was cancelled (its transaction rolled back), not read to its end.
        assert _rollbacks() == before + 1


def test_closing_an_export_inside_a_transaction_keeps_the_transaction(author):
    _many_authors(30_000)
    stream = copy_chunks(Events.objects.all(), chunk_size=20_000)
    next(stream)
    next(stream)
    stream.close()
    assert Author.objects.count() == 30_001  # the test's transaction is still usable


# --- exports fail loudly ------------------------------------------------------------------------

AUDIT_LOG = "/admin/pghistory_admin/auditlog/"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2026-13-45"}, "Enter a valid date"),
        ({"model": "testapp.nothing"}, "Select a valid choice"),
        ({"since": "2026-01-01", "until": "2026-02-30"}, "Enter a valid date"),
    ],
)
def test_invalid_filters_answer_with_the_form_errors(admin_client, author, params, message):
    response = admin_client.get(AUDIT_LOG + "export/", params)
    assert response.status_code == 400
    assert not response.streaming
    assert "Content-Disposition" not in response
    page = response.content.decode()
    assert "The export was not started: correct the filters below." in page
    assert message in page
    assert response.context["filter"].errors


def test_a_valid_filter_still_downloads(admin_client, author):
    response = admin_client.get(AUDIT_LOG + "export/", {"since": "2020-01-31"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == HEADER and len(rows) == 2


def test_the_first_chunk_runs_before_the_response_starts(author):
    Author.objects.bulk_create([Author(name=f"a{i}") for i in range(3)])
    with CaptureQueriesContext(connection) as captured:
        response = csv_response(Events.objects.all(), filename="x.csv")
    assert any("min(_c.pgh_id)" in query["sql"] for query in captured.captured_queries)
    body = b"".join(response.streaming_content).decode()
    assert len(list(csv.reader(io.StringIO(body)))) == 1 + 4


def _documents(count, size):
    Document.objects.bulk_create([Document(body=f"{i:06}" + "x" * size) for i in range(count)])


@pytest.mark.django_db(transaction=True)
def test_a_failure_mid_stream_fails_the_download(settings):
    """A later chunk's query is cancelled (a real statement timeout): iterating the response
    raises, after a line saying the file is incomplete; it never ends as if complete."""
    from pghistory_admin.export import FAILURE_LINE, FIRST_CHUNK_SIZE
    from pghistory_admin.timeouts import is_timeout

    settings.PGHISTORY_ADMIN_STATEMENT_TIMEOUT = 0.3
    # One transaction per chunk on the request's connection: a lock taken after the first chunk
    # stops the next (a parallel export's transactions would hold the table until the end).
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 0
    _documents(FIRST_CHUNK_SIZE + 100, 10)
    response = csv_response(Events.objects.all(), filename="all.csv")  # the first chunk ran
    received = []
    with locked(DocumentEvent), pytest.raises(OperationalError) as raised:
        received.extend(response.streaming_content)
    assert is_timeout(raised.value)
    body = b"".join(received)
    assert body.endswith(FAILURE_LINE)
    rows = [row for row in csv.reader(io.StringIO(body.decode())) if row]
    assert rows[0] == HEADER
    assert rows[-1] == ["# export failed: this file is incomplete"]
    assert len(rows) - 2 == FIRST_CHUNK_SIZE  # header, the first chunk, the failure line
    response.close()
    # Unlocked, the same export completes.
    complete = b"".join(csv_response(Events.objects.all(), filename="all.csv").streaming_content)
    assert len(list(csv.reader(io.StringIO(complete.decode())))) == 1 + FIRST_CHUNK_SIZE + 100


@pytest.mark.django_db(transaction=True)
def test_a_real_server_aborts_a_download_that_fails(settings, client, monkeypatch):
    """Served by a real WSGI server (waitress, HTTP/1.1 chunked): the client sees the transfer
    break off (no final chunk), not a complete file.

    The first chunk's events are large and the socket buffers small, so the server is still
    writing them (its next chunk not yet started) when the lock is taken.
    """
    import http.client
    import socket
    import threading

    from django.core.handlers.wsgi import WSGIHandler
    from waitress.server import create_server

    from pghistory_admin.export import FAILURE_LINE, FIRST_CHUNK_SIZE

    settings.PGHISTORY_ADMIN_STATEMENT_TIMEOUT = 0.5
    settings.PGHISTORY_ADMIN_EXPORT_CONNECTIONS = 0  # as above
    _documents(FIRST_CHUNK_SIZE + 100, 40_000)  # the first chunk is ~20 MB of CSV
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    # The lock is taken by the server's thread once the first chunk is handed to the server and
    # before the next COPY starts: the next chunk then fails for real (its statement timeout),
    # whatever the timing of the client and of the server's buffers.
    from pghistory_admin import export

    real_rest = export._rest

    def rest_after_lock(connection, statements):
        with locked(DocumentEvent):  # released by the same thread when the chunk has failed
            yield from real_rest(connection, statements)

    monkeypatch.setattr(export, "_rest", rest_after_lock)
    server = create_server(
        WSGIHandler(),
        host="127.0.0.1",
        port=0,
        threads=1,
        outbuf_high_watermark=65536,
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=60)
        # A small receive window (set before connecting): the server cannot run ahead.
        conn.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        conn.sock.settimeout(60)
        conn.sock.connect(("127.0.0.1", int(server.effective_port)))
        conn.request(
            "GET",
            AUDIT_LOG + "export/",
            headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
        )
        answer = conn.getresponse()
        assert answer.status == 200
        assert answer.getheader("Transfer-Encoding") == "chunked"
        first = answer.read(1024)
        assert first.startswith(b"pgh_id,created_at,model,")
        with pytest.raises(http.client.IncompleteRead) as broken:
            answer.read()
        body = first + broken.value.partial
        assert body.endswith(FAILURE_LINE)
        assert body.count(b"\n") < FIRST_CHUNK_SIZE + 100
        conn.close()
    finally:
        server.close()
        thread.join(10)


# --- the contexts of a chunk --------------------------------------------------------------------


def test_context_cells_are_the_same_per_chunk_table_or_per_event(db):
    # An unfiltered chunk formats its contexts once into a table joined by hash; a sparse
    # filtered chunk formats each exported event's context. Both print what the rows say.
    from pghistory_admin.export import copy_statements

    alice = get_user_model().objects.create(username="=alice")
    contexts = [
        {"user": alice.pk, "url": "/a", "tag": "x"},
        {"user": str(alice.pk)},  # the key's own text matches
        {"user": f"00{alice.pk}"},  # not the key's text: no name
        {"user": 10**9},  # nobody
        {"user": "abc"},
        {"command": "sync", "command_args": ["--all", 3]},
        {"password": "hunter2", "token": None},
    ]
    for index, metadata in enumerate(contexts):
        with pghistory_core.context(**metadata):
            Author.objects.create(name=f"a{index}")
            Author.objects.create(name=f"b{index}")
    everything = Events.objects.all()
    assert "_pgh_cx AS MATERIALIZED" in next(copy_statements(everything))
    _, rows = copy_rows(everything)
    _, expected = export(everything)

    def normalised(row):  # the oracle keeps Python's key order inside the JSON cells
        return {
            k: json.loads(v) if k in ("context", "data", "diff") and v else v
            for k, v in row.items()
        }

    assert [normalised(r) for r in rows] == [normalised(r) for r in expected]
    assert {r["user"] for r in rows} >= {"'=alice", ""}
    every_other = sorted(everything.values_list("pgh_id", flat=True))[::2]
    sparse = Events.objects.filter(pgh_id__in=every_other)
    assert "_pgh_cx" not in next(copy_statements(sparse))
    _, sparse_rows = copy_rows(sparse)
    assert sparse_rows == [r for r in rows if int(r["pgh_id"]) in set(every_other)]
