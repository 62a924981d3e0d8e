"""Streaming CSV export of the event stream."""

import csv
import io
import json
import re
from datetime import datetime

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import pghistory_core
from pghistory_admin.export import copy_chunks, csv_response, csv_rows, neutralise
from pghistory_core.models import Events, MiddlewareEvents
from tests.testapp.models import Author, Book, Document

pytestmark = pytest.mark.django_db

FIXED = ["pgh_id", "created_at", "model", "object_id", "label", "context_id"]


def export(queryset, **kwargs):
    header, *rows = csv_rows(queryset, **kwargs)
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def test_header_and_rows(author):
    with pghistory_core.context(user=3, url="/admin/"):
        author.email = "new@example.com"
        author.save()
    header, rows = export(Events.objects.across("testapp.AuthorEvent"))
    assert header == [*FIXED, "url", "user", "data", "diff"]
    update, insert = rows
    events = list(Events.objects.across("testapp.AuthorEvent").order_by("-pgh_id"))
    assert [int(r["pgh_id"]) for r in rows] == [e.pgh_id for e in events]
    assert update["model"] == "testapp.Author"
    assert update["object_id"] == str(author.pk)
    assert update["label"] == "update"
    assert update["context_id"] == str(events[0].pgh_context_id)
    assert (update["url"], update["user"]) == ("/admin/", "3")
    assert json.loads(update["data"]) == {
        "id": author.pk,
        "name": "Ursula",
        "email": "new@example.com",
    }
    assert json.loads(update["diff"]) == {"email": ["ursula@example.com", "new@example.com"]}
    assert (insert["label"], insert["context_id"], insert["url"], insert["diff"]) == (
        "insert",
        "",
        "",
        "",
    )


def test_timestamps_are_full_iso_with_offset(author):
    event = Events.objects.get()
    with timezone.override("Asia/Kolkata"):
        _, rows = export(Events.objects.all())
    value = rows[0]["created_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+05:30", value)
    assert datetime.fromisoformat(value) == event.pgh_created_at


def test_context_columns_only_for_keys_that_occur(author):
    with pghistory_core.context(command="seed"):
        Book.objects.create(title="b", author=author)
    with pghistory_core.context(user=1):
        author.email = "x@example.com"
        author.save()
    header, _ = export(Events.objects.across("testapp.AuthorEvent"))
    assert header == [*FIXED, "user", "data", "diff"]
    header, _ = export(Events.objects.all())
    assert header == [*FIXED, "command", "user", "data", "diff"]
    header, _ = export(Events.objects.filter(pgh_context_id__isnull=True))
    assert header == [*FIXED, "data", "diff"]


def test_denormalised_json_contexts_contribute_keys():
    with pghistory_core.context(job="nightly"):
        Document.objects.create(body="hello")
    header, rows = export(Events.objects.across("testapp.DocumentEvent"))
    assert header == [*FIXED, "job", "data", "diff"]
    assert rows[0]["job"] == "nightly"


def test_context_key_named_like_a_column_is_prefixed(author):
    with pghistory_core.context(label="mine"):
        author.email = "x@example.com"
        author.save()
    header, rows = export(Events.objects.all())
    assert header == [*FIXED, "context.label", "data", "diff"]
    assert (rows[0]["label"], rows[0]["context.label"]) == ("update", "mine")


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


def test_formula_cells_are_neutralised_in_the_export(author):
    with pghistory_core.context(formula="=1+1", at="@SUM(A1)", minus=-2, plus="+x"):
        Author.objects.create(name="=HYPERLINK(1)")
    header, rows = export(Events.objects.all())
    assert header == [*FIXED, "at", "formula", "minus", "plus", "data", "diff"]
    row = rows[0]
    assert (row["formula"], row["at"], row["minus"], row["plus"]) == (
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
    # 1 context-key query, then ceil(10 / 3) = 4 chunk queries
    with django_assert_num_queries(5), CaptureQueriesContext(connection) as captured:
        _, rows = export(Events.objects.across("testapp.AuthorEvent"), chunk_size=3)
    assert [int(r["pgh_id"]) for r in rows] == expected
    chunks = [q["sql"] for q in captured.captured_queries[1:]]
    assert all(re.search(r"LIMIT 3$", sql) and "OFFSET" not in sql for sql in chunks)
    assert all('"pgh_id" < ' in sql for sql in chunks[1:])


def test_exact_multiple_of_chunk_size_ends_with_one_empty_chunk(django_assert_num_queries):
    Author.objects.bulk_create([Author(name=f"a{i}") for i in range(6)])
    with django_assert_num_queries(1 + 3):
        _, rows = export(Events.objects.across("testapp.AuthorEvent"), chunk_size=3)
    assert len(rows) == 6


def test_rows_are_generated_lazily():
    Author.objects.bulk_create([Author(name=f"a{i}") for i in range(10)])
    rows = csv_rows(Events.objects.across("testapp.AuthorEvent"), chunk_size=3)
    with CaptureQueriesContext(connection) as captured:
        next(rows)  # header
        next(rows)
    assert len(captured.captured_queries) == 2  # context keys + the first chunk only


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
    assert parsed[1][parsed[0].index("note")] == 'multi\nline, "quoted"'


def _json_normalised(rows):
    """Rows with the data and diff cells parsed: Postgres and Python order JSON keys differently."""
    header, *body = rows
    json_columns = [header.index("data"), header.index("diff")]
    return [header] + [
        [json.loads(cell) if i in json_columns and cell else cell for i, cell in enumerate(row)]
        for row in body
    ]


@pytest.mark.parametrize(
    ("chunk_size", "zone", "offset"),
    [(1, "Asia/Kolkata", "+05:30"), (2, "America/St_Johns", "-0"), (10000, "UTC", "+00:00")],
)
def test_copy_export_matches_the_python_rows(author, book, chunk_size, zone, offset):
    with pghistory_core.context(user=5, request_id="=cmd()", note="-2"):
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
    assert "'=cmd()" in parsed[1] and "'-2" in parsed[1]


def test_copy_export_respects_filters_and_scope(author, book):
    queryset = Events.objects.across("testapp.BookEvent")
    parsed = list(csv.reader(io.StringIO(b"".join(copy_chunks(queryset)).decode())))
    assert {row[2] for row in parsed[1:]} == {"testapp.Book"}
    assert len(parsed) == 1 + queryset.count()
