"""SQL of the aggregate's ``UNION ALL``: one ``SELECT`` per event table, and the expressions
computed above the union for the returned rows only (``pgh_diff``, the context's metadata).

Each branch selects the shared columns as plain columns or per-row expressions, so Postgres
pulls the union up and pushes ``ORDER BY pgh_id`` / ``LIMIT`` into each branch (a Merge Append
over the primary keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from django.db import connections, models

from pghistory_core.constants import CONTEXT_TABLE
from pghistory_core.meta import column, concrete, field
from pghistory_core.sql_builders import context_id_sql, jsonb_object, literal, quote

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = [
    "BranchFilter",
    "branch_sql",
    "data_columns",
    "data_sql",
    "diff_sql",
    "empty_sql",
    "lazy_diff_sql",
    "lazy_metadata_sql",
    "metadata_sql",
    "proxy_fields",
]


class BranchFilter(Protocol):
    """A filter of the aggregate, applied in each event table's branch."""

    def clauses(self, event_model: type[Event], alias: str) -> tuple[list[str], list[Any]] | None:
        """OR-able SQL clauses for one event table with their params: none (``[]``) excludes the
        table, ``None`` leaves the test to run above the union."""


_PK_PATTERNS = {
    "integer": "^-?[0-9]{1,9}$",
    "bigint": "^-?[0-9]{1,18}$",
    "smallint": "^-?[0-9]{1,4}$",
    "uuid": "^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$",
}


def data_columns(event_model: type[Event], *, by_attname: bool = False) -> list[tuple[str, str]]:
    """The values ``pgh_data`` holds of an event model, as ``(key, event table column)``.

    As in django-pghistory 3.x, every column of the event table not starting with ``pgh_``
    (the tracked fields and any field the event model declares itself), keyed by column.
    ``by_attname``: the tracked fields only, keyed by the tracked model's attribute names.
    """
    if by_attname:
        tracked = event_model.pgh_tracked_model
        return [
            (field(tracked, name).attname, column(event_model, name))
            for name in event_model.pgh_tracked_fields
        ]
    return [
        (str(f.column), str(f.column))
        for f in event_model._meta.concrete_fields
        if not str(f.column).startswith("pgh_")
    ]


def data_sql(event_model: type[Event], alias: str, *, by_attname: bool = False) -> str:
    """``jsonb`` of the values of an event row (see ``data_columns``)."""
    pairs = [
        f"{literal(key)}, {alias}.{quote(col)}"
        for key, col in data_columns(event_model, by_attname=by_attname)
    ]
    return jsonb_object(pairs)


def diff_sql(event_model: type[Event], alias: str, *, by_attname: bool = False) -> str:
    """``{key: [old, new]}`` against the object's previous event (NULL for the first), keyed
    as ``pgh_data`` (see ``data_columns``).

    One index lookup of the predecessor on ``(pgh_obj_id, pgh_id)``, then a column-by-column
    comparison; unchanged fields are dropped by ``jsonb_strip_nulls``.
    """
    if not event_model.pgh_has_obj:
        return "NULL::jsonb"
    table = quote(event_model._meta.db_table)
    obj = quote(column(event_model, "pgh_obj"))
    pairs = []
    for key, col in data_columns(event_model, by_attname=by_attname):
        old, new = f"to_jsonb(_pgh_p.{quote(col)})", f"to_jsonb({alias}.{quote(col)})"
        pairs.append(
            f"{literal(key)}, CASE WHEN {old} IS DISTINCT FROM {new} "
            f"THEN jsonb_build_array({old}, {new}) END"
        )
    if not pairs:
        return "NULL::jsonb"
    changes = jsonb_object(pairs)
    return (
        f"(SELECT jsonb_strip_nulls({changes}) FROM {table} AS _pgh_p "
        f"WHERE _pgh_p.{obj} = {alias}.{obj} AND _pgh_p.pgh_id < {alias}.pgh_id "
        "ORDER BY _pgh_p.pgh_id DESC LIMIT 1)"
    )


def lazy_diff_sql(models_: Sequence[type[Event]], outer: str, *, by_attname: bool = False) -> str:
    """``pgh_diff`` of an aggregate row, computed above the union.

    At the top of the query Postgres evaluates it after ``ORDER BY … LIMIT`` (it postpones
    expensive output expressions past the sort), so only the returned rows pay for a diff,
    whatever plan found them.
    """
    branches = [
        f"WHEN {literal(model._meta.label)} "
        f"THEN (SELECT {diff_sql(model, '_pgh_e', by_attname=by_attname)} "
        f"FROM {quote(model._meta.db_table)} AS _pgh_e WHERE _pgh_e.pgh_id = {outer}.pgh_id)"
        for model in models_
        if model.pgh_has_obj
    ]
    if not branches:
        return "NULL::jsonb"
    return f"(CASE {outer}.pgh_model {' '.join(branches)} END)"


def lazy_metadata_sql(outer: str) -> str:
    """``pgh_context_metadata`` of an aggregate row, looked up above the union (see above)."""
    return (
        f"COALESCE({outer}.pgh_context_metadata, (SELECT _pgh_c.metadata FROM {CONTEXT_TABLE} "
        f"AS _pgh_c WHERE _pgh_c.id = {outer}.pgh_context_id))"
    )


def metadata_sql(event_model: type[Event], alias: str) -> str:
    if event_model.pgh_context_kind == "json":
        return f"{alias}.{quote(column(event_model, 'pgh_context'))}"
    if event_model.pgh_context_kind == "fk":
        context_column = quote(column(event_model, "pgh_context"))
        return f"(SELECT _pgh_c.metadata FROM {CONTEXT_TABLE} AS _pgh_c WHERE _pgh_c.id = {alias}.{context_column})"
    return "NULL::jsonb"


def _jsonmetadata_sql(event_model: type[Event], alias: str) -> str:
    if event_model.pgh_context_kind == "json":
        return f"{alias}.{quote(column(event_model, 'pgh_context'))}"
    return "NULL::jsonb"


def proxy_fields(model: type[models.Model]) -> list[tuple[models.Field[Any, Any], list[str]]]:
    """Fields of an aggregate model (a proxy of ``Events``) read from the context metadata, with
    the key path each reads: ``ProxyField("pgh_context__url", ...)`` reads ``["url"]``; a plain
    field declared on a proxy reads the key of its own name (as django-pghistory 3.x does)."""
    result = []
    for model_field in model._meta.concrete_fields:
        path = getattr(model_field, "pgh_proxy", None)
        if path is None:
            if model_field.model is concrete(model) or model_field.name.startswith("pgh_"):
                continue
            path = f"pgh_context__{model_field.name}"
        parts = path.split("__")
        if parts[0] != "pgh_context" or len(parts) < 2:
            raise ValueError(
                f"{model.__name__}.{model_field.name}: a field of an Events proxy can only read the "
                f"context, e.g. ProxyField('pgh_context__url', ...), not {path!r}."
            )
        result.append((model_field, parts[1:]))
    return result


def _proxy_column_sql(
    model_field: models.Field[Any, Any], keys: list[str], metadata: str, connection: Any
) -> str:
    """``metadata``'s value at ``keys``, typed as ``model_field`` (NULL when it does not fit)."""
    path = literal("{" + ",".join('"' + key.replace('"', '\\"') + '"' for key in keys) + "}")
    if isinstance(model_field, models.JSONField):
        return f"(({metadata}) #> {path})"
    value = f"(({metadata}) #>> {path})"
    target: Any = model_field
    if isinstance(model_field, models.ForeignKey):
        target = model_field.target_field
    db_type = (
        model_field.rel_db_type(connection)
        if isinstance(model_field, models.ForeignKey)
        else model_field.db_type(connection)
    ) or "text"
    # A context may carry a value of another type ("bob" for a user): NULL, not an error.
    pattern = _PK_PATTERNS.get(db_type.split("(")[0].strip().lower())
    if pattern is None and isinstance(target, models.IntegerField | models.AutoField):
        pattern = _PK_PATTERNS["bigint"]
    if pattern:
        value = f"CASE WHEN {value} ~ '{pattern}' THEN {value} END"
    return f"({value})::{db_type}"


def branch_sql(
    event_model: type[Event],
    *,
    proxies: Sequence[tuple[models.Field[Any, Any], list[str]]] = (),
    obj_filters: Sequence[BranchFilter],
    connection: Any = None,
    by_attname: bool = False,
) -> tuple[str, list[Any]] | None:
    """One ``SELECT`` of the union; ``None`` when the filters exclude the whole table."""
    alias = "_pgh_e"
    obj_column = (
        f"{alias}.{quote(column(event_model, 'pgh_obj'))}::text"
        if event_model.pgh_has_obj
        else "NULL::text"
    )
    label = literal(event_model._meta.label)
    columns = [
        f"{alias}.pgh_id AS pgh_id",
        f"({label} || ':' || {alias}.pgh_id) AS pgh_slug",
        f"{alias}.{quote(column(event_model, 'pgh_created_at'))} AS pgh_created_at",
        f"{alias}.pgh_label::text AS pgh_label",
        f"{label}::text AS pgh_model",
        f"{literal(event_model.pgh_tracked_model._meta.label)}::text AS pgh_obj_model",
        f"{obj_column} AS pgh_obj_id",
        f"{data_sql(event_model, alias, by_attname=by_attname)} AS pgh_data",
        # Computed above the union, for the returned rows only (EventsCompiler.compile).
        "NULL::jsonb AS pgh_diff",
        f"{context_id_sql(event_model, alias)} AS pgh_context_id",
        "NULL::jsonb AS pgh_context",
        f"{_jsonmetadata_sql(event_model, alias)} AS pgh_context_metadata",
    ]
    if proxies:
        metadata = metadata_sql(event_model, alias)
        for model_field, keys in proxies:
            value = _proxy_column_sql(
                model_field, keys, metadata, connection or connections["default"]
            )
            columns.append(f"{value} AS {quote(str(model_field.column))}")
    sql = f"SELECT {', '.join(columns)} FROM {quote(event_model._meta.db_table)} AS {alias}"
    wheres: list[str] = []
    params: list[Any] = []
    for obj_filter in obj_filters:
        result = obj_filter.clauses(event_model, alias)
        if result is None:
            continue  # tested above the union
        clauses, clause_params = result
        if not clauses:
            return None
        wheres.append("(" + " OR ".join(clauses) + ")")
        params.extend(clause_params)
    if wheres:
        sql += " WHERE " + " AND ".join(wheres)
    return sql, params


def empty_sql(proxies: Sequence[tuple[models.Field[Any, Any], list[str]]], connection: Any) -> str:
    columns = (
        "NULL::bigint AS pgh_id, NULL::text AS pgh_slug, NULL::timestamptz AS pgh_created_at, "
        "NULL::text AS pgh_label, NULL::text AS pgh_model, NULL::text AS pgh_obj_model, "
        "NULL::text AS pgh_obj_id, NULL::jsonb AS pgh_data, NULL::jsonb AS pgh_diff, "
        "NULL::uuid AS pgh_context_id, NULL::jsonb AS pgh_context, "
        "NULL::jsonb AS pgh_context_metadata"
    )
    for model_field, keys in proxies:
        value = _proxy_column_sql(model_field, keys, "NULL::jsonb", connection)
        columns += f", {value} AS {quote(str(model_field.column))}"
    return f"SELECT {columns} WHERE FALSE"
