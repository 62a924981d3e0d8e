"""``copy_out_blocks``: a psycopg 3 ``COPY``'s output read off libpq in blocks of whole rows."""

import pytest
from django.db import connection, transaction
from django.db.backends.postgresql.psycopg_any import is_psycopg3

from pghistory_admin.export.copy_out import copy_out_blocks

# psycopg 2 hands ``copy_expert`` a file instead: this reader is psycopg 3's only.
pytestmark = [
    pytest.mark.skipif(not is_psycopg3, reason="reads psycopg 3's Copy"),
    pytest.mark.django_db(transaction=True),
]

# Rows of varying length, some with a quoted line break and quotes inside (one CSV row, two lines).
ROWS = (
    "COPY (SELECT g, repeat('x', g % 97), CASE WHEN g % 7 = 0 THEN 'two' || chr(10) || 'lines \"q\"' "
    "END FROM generate_series(1, {n}) AS g) TO STDOUT WITH (FORMAT csv)"
)


def _psycopg_rows(statement):
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        return [bytes(row) for row in copy]


def _blocks(statement, size):
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        return list(copy_out_blocks(copy, size))


def _usable():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 41 + 1")
        return cursor.fetchone()[0] == 42


def test_blocks_hold_psycopgs_rows_whole_and_in_order():
    statement = ROWS.format(n=20_000)
    rows = _psycopg_rows(statement)
    blocks = _blocks(statement, 4096)
    assert b"".join(blocks) == b"".join(rows)
    assert len(rows) == 20_000 and len(blocks) > 100
    # Every block but the last reaches the size, and ends where a row ends.
    ends, offset = set(), 0
    for row in rows:
        offset += len(row)
        ends.add(offset)
    offset = 0
    for block in blocks[:-1]:
        assert 4096 <= len(block) < 4096 + max(map(len, rows))
        offset += len(block)
        assert offset in ends
    assert _usable()


def test_an_empty_copy_gives_no_block():
    assert _blocks("COPY (SELECT 1 WHERE FALSE) TO STDOUT", 4096) == []
    assert _usable()


def test_an_error_during_the_copy_is_raised_as_psycopgs_after_the_rows_before_it():
    from psycopg import errors

    statement = "COPY (SELECT 1 / (g - 30000) FROM generate_series(1, 40000) AS g) TO STDOUT"
    received = []
    with (
        pytest.raises(errors.DivisionByZero),
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(statement) as copy,
    ):
        for block in copy_out_blocks(copy, 1024):
            received.append(block)
    # The rows the server had sent before it (it may drop the last ones it held).
    assert 0 < b"".join(received).count(b"\n") <= 29_999
    assert _usable()


def test_a_statement_timeout_is_raised_as_a_cancelled_query():
    from psycopg import errors

    with (
        pytest.raises(errors.QueryCanceled),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL statement_timeout = '50ms'")
        with cursor.cursor.copy("COPY (SELECT pg_sleep(5)) TO STDOUT") as copy:
            list(copy_out_blocks(copy, 1024))
    assert _usable()


class _Gone(Exception):
    pass


def test_leaving_early_cancels_the_copy_and_keeps_the_connection():
    # What ``copy_into`` does when the spool's reader is gone: the exception leaves the Copy block.
    received = []
    statement = ROWS.format(n=5_000_000)
    with pytest.raises(_Gone), connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for block in copy_out_blocks(copy, 1024):
            received.append(block)
            raise _Gone
    assert received[0].endswith(b"\n")
    assert _usable()  # psycopg refuses a query while a COPY is still being received
