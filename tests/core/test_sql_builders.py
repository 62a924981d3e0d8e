"""``sql_builders``: the SQL text every builder shares, run on Postgres."""

from __future__ import annotations

import pytest
from django.db import connection

import pghistory_core
from pghistory_core.sql_builders import (
    JSONB_MAX_PAIRS,
    chunked,
    context_id_sql,
    jsonb_object,
    literal,
    quote,
)
from tests.testapp.models import AuthorEvent, Memo

pytestmark = pytest.mark.django_db


def _one(sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def test_quote_and_literal_survive_their_own_quote_characters():
    text = "it's; DROP TABLE x --"
    assert _one("SELECT " + literal(text)) == text
    name = 'we"ird'
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 AS " + quote(name))
        assert cursor.description[0][0] == name


def test_jsonb_object_takes_more_pairs_than_one_call_allows():
    pairs = [f"{literal(f'k{i}')}, {i}" for i in range(JSONB_MAX_PAIRS * 2 + 7)]
    value = _one(f"SELECT ({jsonb_object(pairs)})::text")
    assert value.count('"k') == JSONB_MAX_PAIRS * 2 + 7
    assert _one(f"SELECT ({jsonb_object([])})::text") == "{}"


def test_chunked():
    assert chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert chunked([]) == []


def test_context_id_sql_by_context_kind():
    # A foreign key to Context, and a JSON context with its id beside it: both columns hold the id.
    assert context_id_sql(AuthorEvent, "e") == 'e."pgh_context_id"'
    assert context_id_sql(Memo.pgh_event_model, "e") == 'e."pgh_context_id"'
    plain = pghistory_core.create_event_model(Memo, context_field=None, model_name="MemoNoContext")
    assert context_id_sql(plain, "e") == "NULL::uuid"
