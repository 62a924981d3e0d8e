"""The SQL of the export: the ``COPY … TO STDOUT`` statement of one chunk (``copy_sql``).

Each chunk's ``COPY`` reads, per event table, the events of the chunk's ``pgh_id`` range that the
export keeps, and gives each its predecessor (the object's event before it, in the whole table,
whether exported or not) by one backward probe of the ``(pgh_obj, pgh_id)`` index. The probe
reads the predecessor's columns as they are stored: a column whose type's equality is ``jsonb``
equality (``_Tracked.typed``) is compared in its own type, and only a changed value is formatted.
The contexts of the range's events are formatted once each into a table of the chunk
(``_pgh_cx``) that every branch joins by hash (``_shares_contexts``).

One concept, so one module past 300 lines: every builder here adds columns or clauses to that
one statement, and they share its aliases (``_pgh_e``, ``_pgh_r``, ``_pgh_c``…). The SQL of the
cells is ``export.cell_sql``; running the statements and planning the chunks, ``export.copy``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models

from pghistory_admin.conf import MASK
from pghistory_admin.export.cell_sql import (
    SHOWN_CELLS,
    created_sql,
    jsonb_text,
    masked_key_sql,
    neutralise_sql,
    object_id_sql,
    rest_sql,
    shown_cells,
    user_join_sql,
    username_sql,
)
from pghistory_admin.export.cells import (
    neutralise,
    secret_keys,
)
from pghistory_core.meta import column, field
from pghistory_core.models import Context, Event
from pghistory_core.sql_builders import context_id_sql, literal, quote

#: Below this share of exported events in a chunk's id range, each event formats its own context
#: (most contexts of the range would be formatted for events that are not exported).
_DENSE = 0.9


_CONTEXT_TABLE = Context._meta.db_table


#: Column types whose ``to_json(value)::text`` is the text ``to_jsonb(value)`` prints and whose
#: ``jsonb`` equality is equality of that text: they are compared and printed as text.
_PLAIN_TYPES = re.compile(
    r"smallint|integer|bigint|boolean|text|uuid|date|time|timestamp|timestamp with time zone"
    r"|varchar\(\d+\)"
)

#: Plain types whose own text is their JSON text: cast, not passed through ``to_json`` (which
#: looks the value's type up on every call, ~0.1 µs a value).
_SELF_JSON_TYPES = {"smallint", "integer", "bigint", "boolean"}

#: Types that are not plain (``jsonb`` equality is numeric: ``1.0`` equals ``1.00``; ``to_jsonb``
#: of a float prints as a number, not as the float's text) but whose ``to_jsonb`` is always a
#: JSON scalar (a number, or a string for NaN and the infinities): a pair of them prints as the
#: two values' texts in brackets, without building and printing an array (5% of a chunk's
#: time in the benchmark, whose items and orders each have a ``numeric`` column).
_SCALAR_TYPES = re.compile(r"(numeric|decimal)(\(\d+,\s*\d+\))?|real|double precision")

#: Scalar types whose own text is the text ``jsonb`` prints for them, except the values that are
#: not JSON numbers (NaN, the infinities), which ``to_jsonb`` makes strings: printed from their
#: text without building a ``jsonb`` value (4.8% of a chunk's time in the benchmark). Not the
#: floats: ``jsonb`` prints 1e+20 as 100000000000000000000.
_NUMERIC_TYPES = re.compile(r"(numeric|decimal)(\(\d+(,\s*\d+)?\))?")


#: Text types: compared byte by byte (``COLLATE "C"``), whatever the column's collation says.
_TEXT_TYPES = re.compile(r"text|varchar\(\d+\)")

#: ``concat_ws`` takes at most 100 arguments.
_MAX_ARGS = 90


@dataclass(frozen=True)
class CopyFormat:
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
class Chunk:
    """The next events of an export: their ``pgh_id`` range, how many, of which event models."""

    lo: int
    hi: int
    count: int
    labels: list[str]

    @property
    def dense(self) -> bool:
        """Whether nearly every event id of the range is exported (no filter but the range)."""
        return self.count >= _DENSE * (self.hi - self.lo + 1)


@dataclass(frozen=True)
class _Tracked:
    """One tracked column of an event table as the export reads it."""

    key: str
    column: str
    plain: bool
    secret: bool
    #: Whether the column's text is its JSON text (integers, booleans): ``plain`` as well.
    self_json: bool
    #: Whether its ``jsonb`` value is always a JSON scalar (``plain`` ones are too).
    scalar: bool
    #: Whether two values are equal in the column's type exactly when their ``to_jsonb`` are
    #: (``plain`` and ``scalar`` types, ``jsonb``): compared as stored, without formatting.
    typed: bool
    #: Whether it is compared byte by byte (``COLLATE "C"``): a nondeterministic collation
    #: would call two different texts equal, which ``jsonb`` does not.
    bytewise: bool
    #: For a ``numeric`` (``_NUMERIC_TYPES``), which is printed from its own text: the values
    #: that ``jsonb`` prints as strings (NaN, and the infinities from Postgres 14 on).
    numeric: tuple[str, ...] = ()

    @property
    def textual(self) -> bool:
        """Whether ``value()`` is the JSON text itself (``text``), not ``jsonb``."""
        return self.plain or bool(self.numeric)

    def value(self, expression: str) -> str:
        """The JSON value of ``expression`` (this column's type), NULL for SQL NULL: ``text``
        when ``textual``, else ``jsonb``."""
        if self.self_json:
            return f"{expression}::text"
        if self.plain:
            return f"to_json({expression})::text"
        if self.numeric:
            strings = ", ".join(literal(value) for value in self.numeric)
            return (
                f"CASE WHEN {expression} IN ({strings}) "
                f"THEN '\"' || {expression}::text || '\"' ELSE {expression}::text END"
            )
        return f"to_jsonb({expression})"

    def changed(self, old: str, new: str) -> str:
        """Whether ``old`` differs from ``new`` (both as stored when ``typed``, else ``value()``)."""
        if self.bytewise:
            return f'{old} COLLATE "C" IS DISTINCT FROM {new} COLLATE "C"'
        return f"{old} IS DISTINCT FROM {new}"

    def printed(self, value: str) -> list[_Part]:
        """How ``jsonb`` prints ``value`` (an expression of ``value()``'s type)."""
        if self.secret:
            return [_Text(jsonb_text(MASK))]
        if self.textual:
            return [f"COALESCE({value}, 'null')"]
        return [f"COALESCE({value}::text, 'null')"]

    def pair(self, old: str, new: str) -> list[_Part]:
        """How ``jsonb_strip_nulls(jsonb_build_array(old, new))`` prints."""
        if self.secret:
            return [_Text(jsonb_text([MASK, MASK]))]
        if self.scalar:  # nothing to strip, ", " between them
            return [_Text("["), *self.printed(old), _Text(", "), *self.printed(new), _Text("]")]
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
        plain = _PLAIN_TYPES.fullmatch(db_type) is not None
        scalar = plain or _SCALAR_TYPES.fullmatch(db_type) is not None
        found.append(
            _Tracked(
                key=key,
                column=quote(column(event_model, name)),
                plain=plain,
                secret=key in secrets,
                self_json=db_type in _SELF_JSON_TYPES,
                scalar=scalar,
                typed=scalar or db_type == "jsonb",
                bytewise=_TEXT_TYPES.fullmatch(db_type) is not None,
                numeric=_non_numbers(connection) if _NUMERIC_TYPES.fullmatch(db_type) else (),
            )
        )
    return sorted(found, key=lambda tracked: (len(tracked.key.encode()), tracked.key.encode()))


def _non_numbers(connection: Any) -> tuple[str, ...]:
    """The ``numeric`` values that are not JSON numbers on ``connection``'s server."""
    if connection.pg_version >= 140000:
        return ("NaN", "Infinity", "-Infinity")
    return ("NaN",)


def copy_sql(
    rows: models.QuerySet[Any], chosen: Sequence[type[Event]], chunk: Chunk, export: CopyFormat
) -> str:
    """``COPY`` of a chunk; ``rows`` is the export's queryset limited to the chunk's range.

    When the export is ``filtered``, the rows' ids are read first (``_pgh_chunk``); each table's
    branch keeps those of its events.
    """
    shared = _shares_contexts(chosen, chunk, export)
    branches = " UNION ALL ".join(
        _branch_sql(model, chunk, export, shared=model in shared) for model in chosen
    )
    statement = f"SELECT * FROM ({branches}) AS _pgh_u ORDER BY _pgh_u.pgh_id DESC"
    tables = []
    if export.filtered:
        sql, params = rows.values("pgh_id", "pgh_model").query.sql_with_params()
        selected = export.connection.ops.compose_sql(sql, params)
        tables.append(f"_pgh_chunk AS MATERIALIZED ({selected})")
    if shared:
        tables.append(f"_pgh_cx AS MATERIALIZED ({_contexts_sql(shared, chunk, export)})")
    if tables:
        statement = f"WITH {', '.join(tables)} {statement}"
    return f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)"


def _shares_contexts(chosen: Sequence[type[Event]], chunk: Chunk, export: CopyFormat) -> list[Any]:
    """The event tables whose context cells come from the chunk's table of contexts (``_pgh_cx``).

    A context's cells (user name, masked rest of its metadata…) cost about 20 µs to compute; most
    contexts have several events, in several tables. So the contexts of the events in the chunk's
    id range are formatted once, in one table, and each branch joins it by hash. Events that keep
    their metadata in a JSON column, and sparse chunks of a filtered export (whose range holds
    many events that are not exported), format each event's context themselves.
    """
    if export.filtered and not chunk.dense:
        return []
    return [model for model in chosen if model.pgh_context_kind == "fk"]


def _cells_sql(export: CopyFormat) -> str:
    """The select list of a context's cells, from its metadata ``_pgh_m.m`` and the user name
    ``_pgh_m.u`` (``username_sql``, joined once per context)."""
    keys = export.keys
    return ", ".join(
        [
            *(f"{cell} AS _m{i}" for i, cell in enumerate(shown_cells("_pgh_m.m", "_pgh_m.u"))),
            *(
                f"{masked_key_sql(key, neutralise_sql(f'(_pgh_m.m ->> {literal(key)})'))} AS _k{i}"
                for i, key in enumerate(keys)
            ),
            f"{rest_sql('_pgh_m.m', keys, export.secret_pattern)} AS _rest",
        ]
    )


def _contexts_sql(models_: Sequence[type[Event]], chunk: Chunk, export: CopyFormat) -> str:
    """The cells of every context of the chunk's id range, by context id (``_x``)."""
    ids = " UNION ALL ".join(
        f"SELECT _pgh_e.{quote(column(model, 'pgh_context'))} AS pgh_context_id FROM "
        f"{quote(model._meta.db_table)} AS _pgh_e "
        f"WHERE _pgh_e.pgh_id BETWEEN {chunk.lo} AND {chunk.hi}"
        for model in models_
    )
    return (
        f"SELECT _pgh_m.id AS _x, {_cells_sql(export)} FROM (SELECT _pgh_x.id, "
        f"_pgh_x.metadata AS m, {username_sql()} AS u "
        f"FROM (SELECT DISTINCT _pgh_i.pgh_context_id FROM ({ids}) AS _pgh_i) AS _pgh_i "
        f"JOIN {quote(_CONTEXT_TABLE)} AS _pgh_x ON _pgh_x.id = _pgh_i.pgh_context_id"
        f"{user_join_sql('_pgh_x.metadata')} OFFSET 0) AS _pgh_m"
    )


def _branch_sql(event_model: type[Event], chunk: Chunk, export: CopyFormat, *, shared: bool) -> str:
    """The CSV columns of one event table's events in the chunk (``shared``: its contexts'
    cells are joined from ``_pgh_cx``)."""
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
        *(f"{t.value(f'_pgh_e.{t.column}')} AS _v{i}" for i, t in enumerate(tracked)),
    ]
    where = f"_pgh_e.pgh_id BETWEEN {chunk.lo} AND {chunk.hi} AND {exported}"
    if obj is None or not tracked:
        rows = f"SELECT {', '.join(base)} FROM {table} AS _pgh_e WHERE {where}"
        diff = "NULL::text"
    else:
        rows = _predecessors_sql(table, obj, base, where, tracked)
        diff = _diff_sql(tracked)
    data: list[_Part] = [_Text("{")]
    for i, t in enumerate(tracked):
        data += [
            _Text(", " if i else ""),
            _Text(jsonb_text(t.key) + ": "),
            *t.printed(f"_pgh_r._v{i}"),
        ]
    data.append(_Text("}"))
    label_sql = neutralise_sql("_pgh_r._l")
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
        created_sql("_pgh_r._c", zone),
        f"{literal(neutralise(event_model.pgh_tracked_model._meta.label))}::text",
        object_id_sql(event_model, connection),
        action,
        label_sql,
        *(f"_pgh_c._m{i}" for i in range(SHOWN_CELLS)),
        "_pgh_r._x",
        *(f"_pgh_c._k{i}" for i in range(len(keys))),
        "_pgh_c._rest",
    ]
    if shared:
        joins = " LEFT JOIN _pgh_cx AS _pgh_c ON _pgh_c._x = _pgh_r._x"
    else:
        # The context's cells, computed once per event from its metadata (``_pgh_m.m``).
        lookup = (
            f"(SELECT _pgh_x.metadata FROM {quote(_CONTEXT_TABLE)} AS _pgh_x "
            "WHERE _pgh_x.id = _pgh_r._x)"
        )
        metadata = f"COALESCE(_pgh_r._j, {lookup})" if json_context else lookup
        joins = (
            f" LEFT JOIN LATERAL (SELECT {_cells_sql(export)} FROM (SELECT _pgh_n.m, "
            f"{username_sql()} AS u FROM (SELECT {metadata} AS m OFFSET 0) AS _pgh_n"
            f"{user_join_sql('_pgh_n.m')} OFFSET 0) AS _pgh_m) AS _pgh_c ON TRUE"
        )
    columns += [f"{_concat(data)}::text", diff]
    return f"SELECT {', '.join(columns)} FROM ({rows}) AS _pgh_r{joins}"


def _predecessors_sql(
    table: str, obj: str, base: list[str], where: str, tracked: list[_Tracked]
) -> str:
    """The exported events of the range, each with its predecessor's stored columns ``_p<i>``
    (``value()`` of those not ``typed``) and, for the ``typed`` ones, its own ``_r<i>``
    (``_has``: it has a predecessor).

    One index probe per event (~1 µs, the index is hot) costs less than ordering the range by
    object for a window, and its two sorts, plus a probe for each object's first event in it.
    The ``typed`` values are compared as stored, so a predecessor's value is formatted only where
    it changed. ``OFFSET 0`` keeps the planner from evaluating the values twice.
    """
    own = [f"_pgh_e.{t.column} AS _r{i}" for i, t in enumerate(tracked) if t.typed]
    found = ", ".join(
        f"_pgh_p.{t.column} AS _p{i}" if t.typed else f"{t.value(f'_pgh_p.{t.column}')} AS _p{i}"
        for i, t in enumerate(tracked)
    )
    lookup = (
        f"SELECT _pgh_p.pgh_id AS _bid, {found} FROM {table} AS _pgh_p "
        f"WHERE _pgh_p.{obj} = _pgh_s._o AND _pgh_p.pgh_id < _pgh_s.pgh_id "
        "ORDER BY _pgh_p.pgh_id DESC LIMIT 1"
    )
    previous = "".join(f", _pgh_b._p{i}" for i in range(len(tracked)))
    return (
        f"SELECT _pgh_s.*, _pgh_b._bid IS NOT NULL AS _has{previous} "
        f"FROM (SELECT {', '.join(base + own)} FROM {table} AS _pgh_e WHERE {where} OFFSET 0) "
        f"AS _pgh_s LEFT JOIN LATERAL ({lookup}) AS _pgh_b ON TRUE"
    )


def _diff_sql(tracked: list[_Tracked]) -> str:
    """``{key: [old, new]}`` of the changed columns as ``aggregate.diff_sql``'s ``jsonb`` prints,
    NULL without a predecessor."""
    entries = []
    for i, t in enumerate(tracked):
        old, new = f"_pgh_r._p{i}", f"_pgh_r._v{i}"
        changed = t.changed(old, f"_pgh_r._r{i}" if t.typed else new)
        pair = t.pair(t.value(old) if t.typed else old, new)
        text = _concat([_Text(jsonb_text(t.key) + ": "), *pair])
        entries.append(f"CASE WHEN {changed} THEN {text} END")
    groups = [entries[i : i + _MAX_ARGS] for i in range(0, len(entries), _MAX_ARGS)]
    if len(groups) == 1:
        changes = f"concat_ws(', ', {', '.join(groups[0])})"
    else:
        parts = [f"NULLIF(concat_ws(', ', {', '.join(group)}), '')" for group in groups]
        changes = f"concat_ws(', ', {', '.join(parts)})"
    return f"CASE WHEN _pgh_r._has THEN '{{' || {changes} || '}}' END"
