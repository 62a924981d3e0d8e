"""The export formatted by Postgres: ``COPY … TO STDOUT`` statements, one per chunk.

Each chunk's ``COPY`` computes the diff column in one pass per chunk and event table: the table's events
in the chunk's ``pgh_id`` range are ordered by object, and each gets its predecessor's values from
``lag(…) OVER (PARTITION BY pgh_obj ORDER BY pgh_id)``. The window runs over the range's events
before the export's filter is applied, so a predecessor that the filter leaves out still counts.
Only an object's first event in the range looks its predecessor up (one probe of the
``(pgh_obj, pgh_id)`` index), and only when the table has events older than the range.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connections, models, transaction
from django.db.backends.postgresql.psycopg_any import is_psycopg3
from django.db.models.expressions import Col
from django.db.models.lookups import Lookup
from django.utils import timezone

from pghistory_admin import conf, timeouts
from pghistory_admin.diffs import MASK
from pghistory_admin.export.cells import (
    FORMULA_PREFIXES,
    SESSION_KEYS,
    SHOWN_KEYS,
    actions,
    header,
    is_integer_key,
    masked_key_sql,
    neutralise,
    secret_keys,
)
from pghistory_core.meta import column, field
from pghistory_core.models import Context, Event
from pghistory_core.sql_builders import context_id_sql, literal, quote

#: Events per ``COPY`` statement. psycopg 3 hands a statement's rows over as they come, so chunks
#: can be large (fewer objects whose predecessor lies before the chunk); psycopg 2 receives a
#: statement's whole output at once, so its chunks stay small.
COPY_CHUNK_SIZE = 250_000 if is_psycopg3 else 10_000

#: Events per ``COPY`` of a parallel export (``export.parallel``): its output is handed over in
#: blocks with either driver, and what the reader is not ready for waits in a spool.
PARALLEL_CHUNK_SIZE = 100_000


#: Bytes handed to the response at a time (psycopg 3).
BLOCK_SIZE = 256 * 1024


#: Below this share of exported events in a chunk's id range, each table's window only reads the
#: events of objects that occur in the chunk.
_DENSE = 0.9


_CONTEXT_TABLE = Context._meta.db_table


#: Column types whose ``to_json(value)::text`` is the text ``to_jsonb(value)`` prints and whose
#: ``jsonb`` equality is equality of that text: they are compared and printed as text.
_PLAIN_TYPES = re.compile(
    r"smallint|integer|bigint|boolean|text|uuid|date|time|timestamp|timestamp with time zone"
    r"|varchar\(\d+\)"
)


#: ``concat_ws`` takes at most 100 arguments.
_MAX_ARGS = 90


_RANGE_LOOKUPS = {"exact", "gt", "gte", "lt", "lte"}


#: Time zones without offset changes (their offset is written as a constant).
_UTC_ZONES = {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Etc/UCT", "UCT", "Universal", "Zulu"}


def serial_chunks(
    queryset: models.QuerySet[Any],
    *,
    chunk_size: int | None = None,
    keys: list[str] | None = None,
) -> Iterator[bytes]:
    """The CSV of ``queryset`` as bytes on the current connection: the header, then rows
    formatted by ``COPY``, one transaction (or savepoint) per chunk.

    Each chunk first reads the ``pgh_id`` bounds of the next ``chunk_size`` events by keyset
    (cheap: no diff), then one ``COPY`` formats exactly those events, diffs included (see the
    module's docstring). With psycopg 3 the output is handed over in blocks of about
    ``BLOCK_SIZE`` bytes while Postgres produces it; with psycopg 2 a chunk's output comes at once.

    Closing the generator while a ``COPY`` runs (a server closes the response of a client that
    went away) cancels the ``COPY`` on the server: psycopg 3 sends a cancel request and drains the
    connection. Inside a transaction, each ``COPY`` runs in a savepoint, rolled back then, so the
    connection stays usable. With psycopg 2 the generator only pauses between statements.
    """
    if keys is None:
        keys = conf.export_context_columns()
    yield header_line(keys)
    connection = connections[queryset.db]
    for statement in copy_statements(queryset, chunk_size=chunk_size, keys=keys):
        yield from stream(connection, statement)


def header_line(keys: list[str]) -> bytes:
    """The export's header as ``COPY`` would print it."""
    return (",".join(_csv_cell(neutralise(name)) for name in header(keys)) + "\n").encode()


def copy_statements(
    queryset: models.QuerySet[Any],
    *,
    chunk_size: int | None = None,
    keys: list[str] | None = None,
    first_chunk_size: int | None = None,
) -> Iterator[str]:
    """The ``COPY … TO STDOUT`` statements of ``copy_chunks``, one per chunk (e.g. to explain).

    Each is built when asked for: a query reads the bounds of the chunk after the previous
    one's. ``keys`` are the context metadata keys exported as columns of their own (default:
    ``PGHISTORY_ADMIN_EXPORT_CONTEXT_COLUMNS``). ``first_chunk_size`` makes the first chunk
    smaller (``csv_response`` runs it before the response starts).
    """
    planner = ChunkPlanner(
        queryset, chunk_size=chunk_size, keys=keys, first_chunk_size=first_chunk_size
    )
    while (statement := planner.next_statement()) is not None:
        yield statement


class ChunkPlanner:
    """The chunks of one export, newest first: each ``next_statement()`` reads the bounds of the
    chunk after the previous one's and builds its ``COPY``.

    Every query runs on the calling thread's connection of the queryset's alias, so parallel
    readers (``export.parallel``) take turns planning, each on its own connection. Not
    thread-safe: callers serialise the calls.
    """

    def __init__(
        self,
        queryset: models.QuerySet[Any],
        *,
        chunk_size: int | None = None,
        keys: list[str] | None = None,
        first_chunk_size: int | None = None,
    ) -> None:
        if keys is None:
            keys = conf.export_context_columns()
        self.queryset = queryset
        self.size = chunk_size or COPY_CHUNK_SIZE
        self.first_chunk_size = first_chunk_size
        self.chosen = {model._meta.label: model for model in queryset.event_models()}  # type: ignore[attr-defined]
        self.export = _Export(
            keys=keys,
            zone=timezone.get_current_timezone_name(),
            filtered=not _range_only(queryset),
            connection=connections[queryset.db],
            actions=actions(),
            secret_pattern=_secret_key_regex(),
        )
        self.ordered = queryset.order_by("-pgh_id")
        self.last: int | None = None
        self.done = False

    def next_statement(self) -> str | None:
        """The next chunk's ``COPY``, or ``None`` after the last one."""
        if self.done:
            return None
        connection = connections[self.queryset.db]
        first = self.last is None
        page = self.ordered if first else self.ordered.filter(pgh_id__lt=self.last)
        wanted = self.first_chunk_size if first and self.first_chunk_size else self.size
        chunk = _bounds(page, wanted, connection)
        if chunk is None:
            self.done = True
            return None
        rows = self.queryset.order_by().filter(pgh_id__gte=chunk.lo, pgh_id__lte=chunk.hi)
        models_ = [self.chosen[label] for label in chunk.labels]
        export = replace(self.export, connection=connection)
        self.done = chunk.count < wanted
        self.last = chunk.lo
        return _copy_sql(rows, models_, chunk, export)


@dataclass(frozen=True)
class _Export:
    """What every chunk of one export is formatted with."""

    #: Context metadata keys, one column each.
    keys: list[str]
    #: Time zone of the ``created_at`` column.
    zone: str
    #: Whether the export keeps less than every event of a chunk's id range.
    filtered: bool
    connection: Any
    #: ``{pgh_label: word}`` of the ``action`` column.
    actions: dict[str, str]
    #: Postgres regular expression of the context keys whose values are masked (None: none).
    secret_pattern: str | None


@dataclass(frozen=True)
class _Chunk:
    """The next events of an export: their ``pgh_id`` range, how many, of which event models."""

    lo: int
    hi: int
    count: int
    labels: list[str]

    @property
    def dense(self) -> bool:
        """Whether nearly every event id of the range is exported (no filter but the range)."""
        return self.count >= _DENSE * (self.hi - self.lo + 1)


def _bounds(page: models.QuerySet[Any], size: int, connection: Any) -> _Chunk | None:
    try:
        sql, params = page.values("pgh_id", "pgh_model")[:size].query.sql_with_params()
    except EmptyResultSet:  # queryset.none()
        return None
    with bounded(connection), connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(_c.pgh_id), max(_c.pgh_id), count(*), "
            f"array_agg(DISTINCT _c.pgh_model) FROM ({sql}) AS _c",
            params,
        )
        lo, hi, count, labels = cursor.fetchone()
    return _Chunk(lo, hi, count, sorted(labels)) if count else None


def bounded(connection: Any) -> AbstractContextManager[Any]:
    """Where one statement of an export runs: in a transaction of its own under
    ``PGHISTORY_ADMIN_STATEMENT_TIMEOUT``, else in a savepoint inside a transaction (so a
    cancelled ``COPY`` leaves the enclosing transaction usable)."""
    if conf.statement_timeout():
        return timeouts.statement_timeout(using=[connection.alias])
    if connection.in_atomic_block:
        return transaction.atomic(using=connection.alias)
    return nullcontext()


def stream(connection: Any, statement: str) -> Iterator[bytes]:
    """Run ``COPY … TO STDOUT``; its output in blocks as it comes (psycopg 3) or at once."""
    # The driver's errors as Django's (``DatabaseError``), as the cursor's own methods raise them.
    with bounded(connection), connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        if hasattr(raw, "copy_expert"):  # psycopg2: returns when the COPY is done
            output = io.BytesIO()
            raw.copy_expert(statement, output)
            yield output.getvalue()
            return
        # Leaving this block early (GeneratorExit at a yield) makes psycopg cancel the COPY.
        with raw.copy(statement) as copy:
            yield from _blocks(copy)


def copy_into(connection: Any, statement: str, write: Callable[[bytes], None]) -> None:
    """Run ``COPY … TO STDOUT`` on ``connection`` as it is (no transaction of its own), handing
    its output to ``write`` in blocks of about ``BLOCK_SIZE`` bytes while it comes (both
    drivers). An exception raised by ``write`` stops the ``COPY`` (psycopg 3 cancels it; with
    psycopg 2 the connection is left unusable and must be closed). The driver's errors are
    raised as Django's."""
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        if hasattr(raw, "copy_expert"):  # psycopg2 writes each row to the file it is given
            sink = _BlockWriter(write)
            raw.copy_expert(statement, sink)
            sink.flush()
            return
        with raw.copy(statement) as copy:
            for block in _blocks(copy):
                write(block)


def _blocks(copy: Iterable[bytes]) -> Iterator[bytes]:
    """psycopg 3 hands a ``COPY``'s output over a row at a time: gathered into blocks."""
    block = bytearray()
    for data in copy:
        block += data
        if len(block) >= BLOCK_SIZE:
            yield bytes(block)
            block.clear()
    if block:
        yield bytes(block)


class _BlockWriter:
    """A file for psycopg 2's ``copy_expert``: rows gathered into blocks of ``BLOCK_SIZE``."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self.block = bytearray()
        self.emit = write

    def write(self, data: bytes) -> None:
        self.block += data
        if len(self.block) >= BLOCK_SIZE:
            self.flush()

    def flush(self) -> None:
        if self.block:
            self.emit(bytes(self.block))
            self.block.clear()


@dataclass(frozen=True)
class _Tracked:
    """One tracked column of an event table as the export reads it."""

    key: str
    column: str
    plain: bool
    secret: bool

    def value(self, alias: str) -> str:
        """Its JSON value, NULL for SQL NULL: ``text`` when ``plain``, else ``jsonb``."""
        if self.plain:
            return f"to_json({alias}.{self.column})::text"
        return f"to_jsonb({alias}.{self.column})"

    def text(self, value: str) -> list[_Part]:
        """How ``jsonb`` prints ``value`` (an expression of ``value()``'s type)."""
        if self.secret:
            return [_Text(_json(MASK))]
        if self.plain:
            return [f"COALESCE({value}, 'null')"]
        return [f"COALESCE({value}::text, 'null')"]

    def pair(self, old: str, new: str) -> list[_Part]:
        """How ``jsonb_strip_nulls(jsonb_build_array(old, new))`` prints."""
        if self.secret:
            return [_Text(_json([MASK, MASK]))]
        if self.plain:  # scalars: nothing to strip
            return [_Text("["), *self.text(old), _Text(", "), *self.text(new), _Text("]")]
        return [f"jsonb_strip_nulls(jsonb_build_array({old}, {new}))::text"]


class _Text(str):
    """A constant piece of text in ``_concat``."""

    __slots__ = ()


#: A piece of a text built in SQL: a constant, or an SQL expression of type ``text``.
_Part = _Text | str


def _concat(parts: Sequence[_Part]) -> str:
    """SQL concatenating ``parts`` with ``||``, adjacent constants merged into one literal."""
    merged: list[str] = []
    constant: list[str] = []
    for part in parts:
        if isinstance(part, _Text):
            constant.append(part)
            continue
        if constant:
            merged.append(literal("".join(constant)))
            constant = []
        merged.append(part)
    if constant:
        merged.append(literal("".join(constant)))
    return " || ".join(merged) if merged else "''"


def _tracked(event_model: type[Event], connection: Any) -> list[_Tracked]:
    """The tracked columns, in the order ``jsonb`` keeps object keys (length, then bytes)."""
    tracked_model = event_model.pgh_tracked_model
    secrets = secret_keys(event_model)
    found = []
    for name in event_model.pgh_tracked_fields:
        key = field(tracked_model, name).attname
        db_type = (field(event_model, name).db_type(connection) or "").strip().lower()
        found.append(
            _Tracked(
                key=key,
                column=quote(column(event_model, name)),
                plain=_PLAIN_TYPES.fullmatch(db_type) is not None,
                secret=key in secrets,
            )
        )
    return sorted(found, key=lambda tracked: (len(tracked.key.encode()), tracked.key.encode()))


def _range_only(queryset: models.QuerySet[Any]) -> bool:
    """Whether ``queryset`` keeps every event of its tables within a ``pgh_id`` range.

    Then a chunk's events are all events of its range and the filter need not run again.
    """
    query = queryset.query
    if getattr(query, "pgh_obj_filters", ()) or query.where.negated:
        return False
    if query.where.connector != "AND":
        return False
    for child in query.where.children:
        lhs = getattr(child, "lhs", None)
        target = getattr(lhs, "target", None)
        if not isinstance(child, Lookup) or not isinstance(lhs, Col) or target is None:
            return False
        if target.name != "pgh_id" or child.lookup_name not in _RANGE_LOOKUPS:
            return False
        if not isinstance(child.rhs, int):
            return False
    return True


def _copy_sql(
    rows: models.QuerySet[Any], chosen: Sequence[type[Event]], chunk: _Chunk, export: _Export
) -> str:
    """``COPY`` of a chunk; ``rows`` is the export's queryset limited to the chunk's range.

    When the export is ``filtered``, the rows' ids (and, in a sparse chunk, their objects) are
    read first (``_pgh_chunk``); each table's branch keeps those of its events.
    """
    branches = " UNION ALL ".join(_branch_sql(model, chunk, export) for model in chosen)
    statement = f"SELECT * FROM ({branches}) AS _pgh_u ORDER BY _pgh_u.pgh_id DESC"
    if export.filtered:
        values = ("pgh_id", "pgh_model") if chunk.dense else ("pgh_id", "pgh_model", "pgh_obj_id")
        sql, params = rows.values(*values).query.sql_with_params()
        selected = export.connection.ops.compose_sql(sql, params)
        statement = f"WITH _pgh_chunk AS MATERIALIZED ({selected}) {statement}"
    return f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)"


def _branch_sql(event_model: type[Event], chunk: _Chunk, export: _Export) -> str:
    """The CSV columns of one event table's events in the chunk."""
    keys, zone, filtered, connection = export.keys, export.zone, export.filtered, export.connection
    table = quote(event_model._meta.db_table)
    label = literal(event_model._meta.label)
    exported = (
        f"_pgh_e.pgh_id IN (SELECT _k.pgh_id FROM _pgh_chunk AS _k WHERE _k.pgh_model = {label})"
        if filtered
        else "TRUE"
    )
    obj = quote(column(event_model, "pgh_obj")) if event_model.pgh_has_obj else None
    tracked = _tracked(event_model, connection)
    json_context = event_model.pgh_context_kind == "json"
    base = [
        "_pgh_e.pgh_id",
        f"_pgh_e.{quote(column(event_model, 'pgh_created_at'))} AS _c",
        "_pgh_e.pgh_label::text AS _l",
        f"_pgh_e.{obj} AS _o" if obj else "NULL::text AS _o",
        f"{context_id_sql(event_model, '_pgh_e')} AS _x",
        f"_pgh_e.{quote(column(event_model, 'pgh_context'))} AS _j"
        if json_context
        else "NULL::jsonb AS _j",
        *(f"{t.value('_pgh_e')} AS _v{i}" for i, t in enumerate(tracked)),
    ]
    where = f"_pgh_e.pgh_id BETWEEN {chunk.lo} AND {chunk.hi}"
    if obj is None or not tracked:
        rows = f"SELECT {', '.join(base)} FROM {table} AS _pgh_e WHERE {where} AND {exported}"
        diff = "NULL::text"
    else:
        if filtered and not chunk.dense:
            # Only the events of objects that have an event in the chunk can be predecessors;
            # compared in the column's type, so that few objects are read on its index.
            obj_type = field(event_model, "pgh_obj").db_type(connection)
            where += (
                f" AND _pgh_e.{obj} IN (SELECT CAST(_k.pgh_obj_id AS {obj_type}) "
                f"FROM _pgh_chunk AS _k WHERE _k.pgh_model = {label})"
            )
        base.append(f"{exported} AS _in")
        rows = _windowed_sql(table, obj, base, where, tracked, chunk)
        diff = _diff_sql(tracked)
    data: list[_Part] = [_Text("{")]
    for i, t in enumerate(tracked):
        data += [_Text(", " if i else ""), _Text(_json(t.key) + ": "), *t.text(f"_pgh_r._v{i}")]
    data.append(_Text("}"))
    label_sql = _neutralise_sql("_pgh_r._l")
    # The words are constants: defused here, not once per row.
    action = (
        "CASE _pgh_r._l "
        + "".join(
            f"WHEN {literal(raw)} THEN {literal(neutralise(word))} "
            for raw, word in export.actions.items()
        )
        + f"ELSE {label_sql} END"
    )
    columns = [
        "_pgh_r.pgh_id",
        _created_sql("_pgh_r._c", zone),
        f"{literal(neutralise(event_model.pgh_tracked_model._meta.label))}::text",
        _object_id_sql(event_model, connection),
        action,
        label_sql,
        *(f"_pgh_c._m{i}" for i in range(_SHOWN_CELLS)),
        "_pgh_r._x",
        *(f"_pgh_c._k{i}" for i in range(len(keys))),
        "_pgh_c._rest",
    ]
    # The context's cells, computed once per event from its metadata (``_pgh_m.m``).
    lookup = (
        f"(SELECT _pgh_x.metadata FROM {quote(_CONTEXT_TABLE)} AS _pgh_x "
        "WHERE _pgh_x.id = _pgh_r._x)"
    )
    metadata = f"COALESCE(_pgh_r._j, {lookup})" if json_context else lookup
    cells = ", ".join(
        [
            *(f"{cell} AS _m{i}" for i, cell in enumerate(_shown_cells("_pgh_m.m"))),
            *(
                f"{masked_key_sql(key, _neutralise_sql(f'(_pgh_m.m ->> {literal(key)})'))} AS _k{i}"
                for i, key in enumerate(keys)
            ),
            f"{_rest_sql('_pgh_m.m', keys, export.secret_pattern)} AS _rest",
        ]
    )
    joins = (
        f" LEFT JOIN LATERAL (SELECT {cells} FROM (SELECT {metadata} AS m OFFSET 0) AS _pgh_m) "
        "AS _pgh_c ON TRUE"
    )
    columns += [f"{_concat(data)}::text", diff]
    return f"SELECT {', '.join(columns)} FROM ({rows}) AS _pgh_r{joins}"


def _windowed_sql(
    table: str, obj: str, base: list[str], where: str, tracked: list[_Tracked], chunk: _Chunk
) -> str:
    """The range's exported events (``_in``) with their predecessor's values ``_q<i>``
    (``_has``: there is one).

    The values are computed once per event, below the window (``OFFSET 0`` keeps the planner from
    evaluating them again for ``lag``).
    """
    lags = "".join(f", lag(_pgh_s._v{i}) OVER _pgh_o AS _p{i}" for i in range(len(tracked)))
    window = (
        "SELECT _pgh_s.*, CASE WHEN _pgh_s._o IS NOT NULL THEN lag(_pgh_s.pgh_id) OVER _pgh_o "
        f"END AS _pid{lags} FROM (SELECT {', '.join(base)} FROM {table} AS _pgh_e WHERE {where} "
        "OFFSET 0) "
        "AS _pgh_s WINDOW _pgh_o AS (PARTITION BY _pgh_s._o ORDER BY _pgh_s.pgh_id)"
    )
    # An object's first event in the range looks up its predecessor, if the table has older
    # events at all.
    found = ", ".join(f"{t.value('_pgh_p')} AS _b{i}" for i, t in enumerate(tracked))
    lookup = (
        f"SELECT _pgh_p.pgh_id AS _bid, {found} FROM {table} AS _pgh_p "
        f"WHERE _pgh_w._pid IS NULL AND _pgh_p.{obj} = _pgh_w._o AND _pgh_p.pgh_id < _pgh_w.pgh_id "
        f"AND EXISTS (SELECT FROM {table} AS _pgh_m WHERE _pgh_m.pgh_id < {chunk.lo}) "
        "ORDER BY _pgh_p.pgh_id DESC LIMIT 1"
    )
    # A lag value is NULL when there is no lookup (its event has a predecessor in the range), and
    # the lookup's when there is none: NULL as well, or an event without an object (no diff).
    previous = "".join(
        f", COALESCE(_pgh_w._p{i}, _pgh_b._b{i}) AS _q{i}" for i in range(len(tracked))
    )
    return (
        f"SELECT _pgh_w.*, (_pgh_w._pid IS NOT NULL OR _pgh_b._bid IS NOT NULL) AS _has{previous} "
        f"FROM ({window}) AS _pgh_w LEFT JOIN LATERAL ({lookup}) AS _pgh_b ON TRUE "
        "WHERE _pgh_w._in"
    )


def _diff_sql(tracked: list[_Tracked]) -> str:
    """``{key: [old, new]}`` of the changed columns as ``aggregate.diff_sql``'s ``jsonb`` prints,
    NULL without a predecessor."""
    entries = [
        f"CASE WHEN _pgh_r._q{i} IS DISTINCT FROM _pgh_r._v{i} THEN "
        f"{_concat([_Text(_json(t.key) + ': '), *t.pair(f'_pgh_r._q{i}', f'_pgh_r._v{i}')])} END"
        for i, t in enumerate(tracked)
    ]
    groups = [entries[i : i + _MAX_ARGS] for i in range(0, len(entries), _MAX_ARGS)]
    if len(groups) == 1:
        changes = f"concat_ws(', ', {', '.join(groups[0])})"
    else:
        parts = [f"NULLIF(concat_ws(', ', {', '.join(group)}), '')" for group in groups]
        changes = f"concat_ws(', ', {', '.join(parts)})"
    return f"CASE WHEN _pgh_r._has THEN '{{' || {changes} || '}}' END"


#: How many cells ``_shown_cells`` makes.
_SHOWN_CELLS = 4 + len(SESSION_KEYS)


def _shown_cells(metadata: str) -> list[str]:
    """``user_id``, ``user``, ``url``, ``command`` and the database session's keys of a
    context's ``metadata`` (``jsonb``)."""
    user = f"({metadata} ->> 'user')"
    user_model = get_user_model()
    table = quote(user_model._meta.db_table)
    pk = f"_pgh_u.{quote(column(user_model, user_model._meta.pk.name))}"
    name = quote(column(user_model, user_model.USERNAME_FIELD))
    if is_integer_key(user_model):
        # On the primary key's index; the text must be the key's own (no "007" for 7).
        match = (
            f"{pk} = CASE WHEN {user} ~ '^-?[0-9]{{1,18}}$' THEN {user}::bigint END "
            f"AND {pk}::text = {user}"
        )
    else:
        match = f"{pk}::text = {user}"
    username = f"(SELECT _pgh_u.{name}::text FROM {table} AS _pgh_u WHERE {match})"
    args = f"({metadata} -> 'command_args')"
    command = (
        f"CASE WHEN ({metadata} ->> 'command') IS NOT NULL THEN concat_ws(' ', "
        f"{metadata} ->> 'command', CASE WHEN jsonb_typeof({args}) = 'array' THEN "
        f"(SELECT string_agg(COALESCE(_pgh_a.v, 'null'), ' ' ORDER BY _pgh_a.n) "
        f"FROM jsonb_array_elements_text({args}) WITH ORDINALITY AS _pgh_a(v, n)) END) END"
    )
    return [
        _neutralise_sql(user),
        _neutralise_sql(username),
        masked_key_sql("url", _neutralise_sql(f"({metadata} ->> 'url')")),
        _neutralise_sql(f"({command})"),
        *(_neutralise_sql(f"({metadata} ->> {literal(key)})") for key in SESSION_KEYS),
    ]


def _rest_sql(metadata: str, keys: list[str], secret_pattern: str | None) -> str:
    """The metadata without a column of its own, as a JSON object's text (NULL if empty)."""
    skipped = ", ".join(literal(key) for key in (*SHOWN_KEYS, *keys))
    value = "_pgh_e.value"
    if secret_pattern is not None:
        value = (
            f"CASE WHEN _pgh_e.key ~* {literal(secret_pattern)} AND _pgh_e.value <> 'null' "
            f"THEN to_jsonb({literal(MASK)}::text) ELSE _pgh_e.value END"
        )
    return (
        f"CASE WHEN jsonb_typeof({metadata}) = 'object' THEN "
        f"(SELECT jsonb_object_agg(_pgh_e.key, {value}) FROM jsonb_each({metadata}) AS _pgh_e "
        f"WHERE _pgh_e.key <> ALL (ARRAY[{skipped}]::text[]))::text END"
    )


def _secret_key_regex() -> str | None:
    """``PGHISTORY_ADMIN_SECRET_FIELDS`` as one Postgres regular expression over key names."""
    patterns = [_fnmatch_regex(pattern) for pattern in conf.secret_fields()]
    return "^(" + "|".join(patterns) + ")$" if patterns else None


def _fnmatch_regex(pattern: str) -> str:
    """An ``fnmatch`` pattern as a Postgres regular expression (``*``, ``?``, ``[…]``)."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            # A "]" just after "[" (or "[!") belongs to the set, as in fnmatch.
            end = pattern.find("]", i + 2 if pattern[i : i + 1] == "!" else i + 1)
            if end < 0:
                out.append("\\[")
                continue
            body = pattern[i:end].replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            i = end + 1
        else:
            out.append(re.escape(char))
    return "".join(out)


def _json(value: Any) -> str:
    """JSON as Postgres prints ``jsonb`` (``", "`` and ``": "`` separators, UTF-8)."""
    return json.dumps(value, ensure_ascii=False)


#: Code points of ``cells.FORMULA_PREFIXES``, as ``ascii()`` gives a text's first one.
_FORMULA_CODES = ", ".join(str(ord(prefix)) for prefix in FORMULA_PREFIXES)


def _neutralise_sql(expression: str) -> str:
    # The SQL twin of ``neutralise``: a leading = + - @ tab or CR gets a quote. ``ascii()`` of
    # the first character costs less than a regular expression (NULL and '' stay as they are).
    return (
        f"CASE WHEN ascii({expression}) IN ({_FORMULA_CODES}) THEN '''' || {expression} "
        f"ELSE {expression} END"
    )


#: Object id column types whose text can start with a formula character only as a minus sign.
_INTEGER_TYPES = {"smallint", "integer", "bigint"}


def _object_id_sql(event_model: type[Event], connection: Any) -> str:
    """The ``object_id`` cell, defused: an integer id by its sign, anything else by its text."""
    if event_model.pgh_has_obj:
        db_type = (field(event_model, "pgh_obj").db_type(connection) or "").strip().lower()
        if db_type in _INTEGER_TYPES:
            return "CASE WHEN _pgh_r._o < 0 THEN '''' || _pgh_r._o::text ELSE _pgh_r._o::text END"
    return _neutralise_sql("_pgh_r._o::text")


def _created_sql(expression: str, zone: str) -> str:
    # ISO 8601 in ``zone`` with its offset, like ``datetime.isoformat()``; the session's time zone
    # is left alone (it also renders the timestamps inside the JSON columns).
    if zone in _UTC_ZONES:
        return f"to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
    local = f"({expression} AT TIME ZONE {literal(zone)})"
    offset = f"({local} - ({expression} AT TIME ZONE 'UTC'))"
    return (
        f"to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || CASE WHEN {offset} < interval '0' "
        f"THEN '-' || to_char(-{offset}, 'HH24:MI') ELSE '+' || to_char({offset}, 'HH24:MI') END"
    )


def _csv_cell(value: str) -> str:
    # Quoted as COPY quotes a cell in CSV format (a CR too, unlike csv.writer with "\n" lines).
    if value and not any(char in value for char in ',"\n\r'):
        return value
    return '"' + value.replace('"', '""') + '"'
