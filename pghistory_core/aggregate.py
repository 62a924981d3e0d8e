"""The aggregate event stream: a ``UNION ALL`` over event tables, compiled on demand.

Each branch selects from one event table with the shared columns. Branch columns are plain
columns or per-row expressions, so Postgres pulls the union up and pushes ``ORDER BY pgh_id``
/ ``LIMIT`` into each branch (a Merge Append over the primary keys); ``pgh_diff`` is only
computed for the rows actually returned. Object filters are pushed into the branches so the
``pgh_obj_id`` index is used with its native type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models
from django.db.models.expressions import Col, Expression
from django.db.models.sql import Query
from django.db.models.sql.compiler import SQLCompiler

from pghistory_core.changes import ChangedFilter, ChangedTest
from pghistory_core.meta import column, concrete, field
from pghistory_core.sql_builders import context_id_sql, jsonb_object, literal, quote

if TYPE_CHECKING:
    from pghistory_core.models import Event

_CONTEXT_TABLE = "pghistory_core_context"
_PK_PATTERNS = {
    "integer": "^-?[0-9]{1,9}$",
    "bigint": "^-?[0-9]{1,18}$",
    "smallint": "^-?[0-9]{1,4}$",
    "uuid": "^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$",
}


def event_models() -> list[type[Event]]:
    """Every installed concrete event model, in app registry order."""
    from pghistory_core.models import Event

    return [
        model
        for model in apps.get_models()
        if issubclass(model, Event)
        and getattr(model, "pgh_tracked_model", None) is not None
        # A proxy of an event model (ProxyFields) reads the same table as its concrete model.
        and not model._meta.proxy
        and model._meta.managed
    ]


def _resolve_event_model(value: Any) -> type[Event]:
    model = apps.get_model(value) if isinstance(value, str) else value
    if model not in event_models():
        raise ValueError(f"{value!r} is not an installed event model.")
    return model


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
        f"COALESCE({outer}.pgh_context_metadata, (SELECT _pgh_c.metadata FROM {_CONTEXT_TABLE} "
        f"AS _pgh_c WHERE _pgh_c.id = {outer}.pgh_context_id))"
    )


def _metadata_sql(event_model: type[Event], alias: str) -> str:
    if event_model.pgh_context_kind == "json":
        return f"{alias}.{quote(column(event_model, 'pgh_context'))}"
    if event_model.pgh_context_kind == "fk":
        context_column = quote(column(event_model, "pgh_context"))
        return f"(SELECT _pgh_c.metadata FROM {_CONTEXT_TABLE} AS _pgh_c WHERE _pgh_c.id = {alias}.{context_column})"
    return "NULL::jsonb"


def _json_metadata_sql(event_model: type[Event], alias: str) -> str:
    if event_model.pgh_context_kind == "json":
        return f"{alias}.{quote(column(event_model, 'pgh_context'))}"
    return "NULL::jsonb"


class _ObjFilter:
    """Keeps events of (``tracks``) or pointing at (``references``) some objects."""

    def __init__(self, objs: Sequence[models.Model], references: bool) -> None:
        self.by_model: dict[type[models.Model], list[Any]] = {}
        for obj in objs:
            self.by_model.setdefault(concrete(type(obj)), []).append(obj.pk)
        self.references = references

    def clauses(self, event_model: type[Event], alias: str) -> tuple[list[str], list[Any]]:
        """OR-able SQL clauses matching this filter on one event table, with their params."""
        clauses: list[str] = []
        params: list[Any] = []
        tracked = concrete(event_model.pgh_tracked_model)
        if event_model.pgh_has_obj and tracked in self.by_model:
            obj_column = quote(column(event_model, "pgh_obj"))
            pks = self.by_model[tracked]
            clauses.append(f"{alias}.{obj_column} IN ({', '.join(['%s'] * len(pks))})")
            params.extend(pks)
        if self.references:
            for name, target in _references(event_model):
                target_pks = self.by_model.get(concrete(target))
                if target_pks:
                    fk_column = quote(column(event_model, name))
                    placeholders = ", ".join(["%s"] * len(target_pks))
                    clauses.append(f"{alias}.{fk_column} IN ({placeholders})")
                    params.extend(target_pks)
        return clauses, params


def _references(event_model: type[Event]) -> list[tuple[str, type[models.Model]]]:
    """The event model's fields holding a foreign key, with the model each points at: the
    tracked foreign keys, and those the event model declares itself (as in 3.x)."""
    result = []
    for name in event_model.pgh_tracked_fields:
        tracked_field = field(event_model.pgh_tracked_model, name)
        target = tracked_field.related_model
        if (tracked_field.many_to_one or tracked_field.one_to_one) and target is not None:
            result.append((name, target))
    for own in event_model._meta.concrete_fields:
        if own.name in event_model.pgh_tracked_fields or own.name.startswith("pgh_"):
            continue
        if (own.many_to_one or own.one_to_one) and isinstance(own.related_model, type):
            result.append((own.name, own.related_model))
    return result


class _ContextFilter:
    """Keeps events whose context metadata contains one of several JSON documents.

    Before the query is compiled, the matching contexts are looked up on the Context table's GIN
    index (at most ``PROBE_LIMIT + 1`` of them). For a small share of all contexts (a rare user)
    each event table is probed for their ids on its ``pgh_context_id`` index, in the table's
    UNION ALL branch. For a large share or very many (a busy user) whose contexts include recent
    ones, the test runs above the union instead (``_OuterContextTest``): a branch with a WHERE
    clause cannot be read along its primary key in the union's order, so Postgres fetched and
    sorted every event of the user before returning a page (3 s at 10 million events); without
    one, each table is read newest first and the read stops when the page is full. Above the
    union the test compares with the ids (up to ``PROBE_LIMIT``) or, for more that are also at
    least ``WALK_SHARE`` of all contexts, looks each event's context up by its primary key: such a
    user's events are dense among the newest, so few are looked up, where shipping all their ids
    (12,000 at 10 million events) or hashing them in each table's branch cost more than the page.
    Otherwise a subquery of their contexts is hashed.
    """

    #: Up to this many matching contexts, their ids are sent to each event table.
    PROBE_LIMIT = 5000
    #: Matching at least this share of all contexts (a busy user), the test moves above the union...
    WALK_SHARE = 0.005
    #: ...if one of this many newest contexts matches; otherwise reading newest first would cross
    #: all their events before finding one of the user's.
    WALK_RECENT = 2000

    def __init__(self, alternatives: Sequence[dict[str, Any]]) -> None:
        if not alternatives or not all(isinstance(a, dict) and a for a in alternatives):
            raise ValueError("context_matches() takes non-empty dicts of metadata.")
        self.documents = [
            json.dumps(a, cls=DjangoJSONEncoder, sort_keys=True) for a in alternatives
        ]
        #: How many contexts match (at most ``PROBE_LIMIT + 1``) and their ids as a ``uuid[]``
        #: literal (``None`` above ``PROBE_LIMIT``), once resolved.
        self.matches = 0
        self.ids: str | None = None
        #: Whether one of the ``WALK_RECENT`` newest contexts matches, and whether the matches are
        #: at least ``WALK_SHARE`` of all contexts.
        self.recent = False
        self.dense = False
        #: Whether the test runs above the union (``outer_sql``) instead of in each branch.
        self.walk = False

    def _tests(self, alias: str) -> str:
        return " OR ".join([f"{alias}.metadata @> %s::jsonb"] * len(self.documents))

    def resolve(self, connection: Any) -> None:
        """Look up the matching contexts and where to test them.

        One query: how many match (at most ``PROBE_LIMIT + 1``) and their ids as one ``uuid[]``
        literal (passed back as one parameter), the planner's estimate of all contexts (no count
        over the table), and whether one of the newest contexts matches (the ``created_at``
        index's newest ``WALK_RECENT``).
        """
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH _pgh_m AS (SELECT _pgh_c.id FROM {_CONTEXT_TABLE} AS _pgh_c "
                f"WHERE {self._tests('_pgh_c')} LIMIT %s) "
                "SELECT count(*), CASE WHEN count(*) <= %s THEN array_agg(_pgh_m.id)::text END, "
                "(SELECT reltuples FROM pg_class WHERE oid = %s::regclass), "
                f"EXISTS (SELECT FROM (SELECT _pgh_c.metadata FROM {_CONTEXT_TABLE} AS _pgh_c "
                f"ORDER BY _pgh_c.created_at DESC LIMIT %s) AS _pgh_c WHERE {self._tests('_pgh_c')}) "
                "FROM _pgh_m",
                [
                    *self.documents,
                    self.PROBE_LIMIT + 1,
                    self.PROBE_LIMIT,
                    _CONTEXT_TABLE,
                    self.WALK_RECENT,
                    *self.documents,
                ],
            )
            self.matches, self.ids, total, self.recent = cursor.fetchone()
        many = self.matches > self.PROBE_LIMIT
        self.dense = total > 0 and self.matches / float(total) >= self.WALK_SHARE
        self.walk = many or (self.dense and self.recent)

    def outer_sql(self, alias: str) -> tuple[str, list[Any]]:
        """The test above the union (``TRUE`` when the branches test)."""
        if not self.walk:
            return "TRUE", []
        # Not indexable (IS TRUE): the union is read newest first, each table along its primary
        # key, and stops when the page is full. Rows of denormalised (JSON) contexts carry their
        # metadata and were tested in their branch; the others carry NULL there.
        params: list[Any]
        if self.ids is not None:
            test, params = f"{alias}.pgh_context_id = ANY(%s::uuid[])", [self.ids]
        elif self.recent and self.dense:
            # A scalar subquery (never turned into a join): one primary key lookup per event read,
            # few when the user's events are dense among the newest. Otherwise the hashed subquery
            # below costs less per event read.
            test = (
                f"(SELECT {self._tests('_pgh_k')} FROM {_CONTEXT_TABLE} AS _pgh_k "
                f"WHERE _pgh_k.id = {alias}.pgh_context_id)"
            )
            params = list(self.documents)
        else:
            test = (
                f"{alias}.pgh_context_id IN (SELECT _pgh_c.id FROM {_CONTEXT_TABLE} AS _pgh_c "
                f"WHERE {self._tests('_pgh_c')})"
            )
            params = list(self.documents)
        return f"({alias}.pgh_context_metadata IS NOT NULL OR ({test}) IS TRUE)", params

    def clauses(self, event_model: type[Event], alias: str) -> tuple[list[str], list[Any]] | None:
        """OR-able clauses for one event table, with their params (``None``: tested above)."""
        kind = event_model.pgh_context_kind
        if self.walk and kind == "fk":
            return None
        if kind == "json":
            context_column = quote(column(event_model, "pgh_context"))
            return [f"{alias}.{context_column} @> %s::jsonb" for _ in self.documents], list(
                self.documents
            )
        if kind != "fk" or not self.matches:
            return [], []
        # More than PROBE_LIMIT matches are always tested above the union (walk).
        context_column = quote(column(event_model, "pgh_context"))
        return [f"{alias}.{context_column} = ANY(%s::uuid[])"], [self.ids]


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
    obj_filters: Sequence[_ObjFilter | _ContextFilter | ChangedFilter],
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
        f"{_json_metadata_sql(event_model, alias)} AS pgh_context_metadata",
    ]
    if proxies:
        metadata = _metadata_sql(event_model, alias)
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


def _empty_sql(proxies: Sequence[tuple[models.Field[Any, Any], list[str]]], connection: Any) -> str:
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


class EventsQuery(Query):
    """A ``Query`` whose base table is the union of the chosen event tables."""

    pgh_event_models: list[type[Event]] | None = None
    pgh_obj_filters: tuple[_ObjFilter | _ContextFilter | ChangedFilter, ...] = ()
    pgh_by_attname: bool = False

    def get_compiler(
        self, using: str | None = None, connection: Any = None, elide_empty: bool = True
    ) -> SQLCompiler:
        if using:
            connection = connections[using]
        return EventsCompiler(self, connection, using, elide_empty)

    def event_models_chosen(self) -> list[type[Event]]:
        """The event models this query reads."""
        return list(self.pgh_event_models) if self.pgh_event_models is not None else event_models()

    def union_sql(self, connection: Any = None) -> tuple[str, list[Any]]:
        """The SQL standing in for the aggregate's table."""
        chosen = self.event_models_chosen()
        for obj_filter in self.pgh_obj_filters:
            if isinstance(obj_filter, _ContextFilter):
                obj_filter.resolve(connection or connections["default"])
            elif isinstance(obj_filter, ChangedFilter):
                obj_filter.resolve(chosen)
        connection = connection or connections["default"]
        proxies = proxy_fields(self.model) if self.model is not None else []
        parts, params = [], []
        for event_model in chosen:
            branch = branch_sql(
                event_model,
                proxies=proxies,
                obj_filters=self.pgh_obj_filters,
                connection=connection,
                by_attname=self.pgh_by_attname,
            )
            if branch is not None:
                parts.append(branch[0])
                params.extend(branch[1])
        if not parts:
            return _empty_sql(proxies, connection), []
        return " UNION ALL ".join(parts), params


class EventsCompiler(SQLCompiler):
    """Replaces the aggregate's table name with the union of event tables.

    ``pgh_diff`` and ``pgh_context_metadata`` are compiled as expressions over the union's row
    (see ``lazy_diff_sql``), wherever the query uses them (select list, filters, ordering).
    """

    def compile(self, node: Any) -> Any:
        model = self.query.model
        if (
            isinstance(node, Col)
            and model is not None
            and concrete(node.target.model) is concrete(model)
        ):
            name = node.target.name
            if name == "pgh_diff":
                chosen = self.query.event_models_chosen()  # type: ignore[attr-defined]
                by_attname = self.query.pgh_by_attname  # type: ignore[attr-defined]
                outer = self.quote_alias(node.alias)
                return lazy_diff_sql(chosen, outer, by_attname=by_attname), []
            if name in ("pgh_context", "pgh_context_metadata"):
                return lazy_metadata_sql(self.quote_alias(node.alias)), []
        return super().compile(node)

    def quote_alias(self, alias: str) -> str:
        """The aggregate's table in this query as Django writes it (``U0`` in a subquery)."""
        # Django 6 renamed quote_name_unless_alias() (deprecated there) to quote_name().
        quote = getattr(self, "quote_name", None) or self.quote_name_unless_alias
        return str(quote(alias))

    def get_from_clause(self) -> Any:
        result, params = super().get_from_clause()
        table = self.connection.ops.quote_name(self.query.get_meta().db_table)
        for index, part in enumerate(result):
            if part == table or part.startswith(f"{table} "):
                union, union_params = self.query.union_sql(self.connection)  # type: ignore[attr-defined]
                alias = part[len(table) :].strip() or table
                result[index] = f"({union}) {alias}"
                params = type(params)([*union_params, *params])
                break
        return result, params


class _OuterContextTest(Expression):
    """The part of a ``context_matches`` test that runs above the union (see ``_ContextFilter``).

    Compiled after the FROM clause, which resolves the filter.
    """

    output_field = models.BooleanField()

    def __init__(self, context_filter: _ContextFilter) -> None:
        super().__init__()
        self.context_filter = context_filter

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        return self.context_filter.outer_sql(compiler.quote_alias(compiler.query.base_table))


# pgh_context is the metadata too (django-pghistory 3.x's name).
_METADATA = ("pgh_context_metadata", "pgh_context")


def _json_lookup_names() -> frozenset[str]:
    from django.db.models.fields.json import KeyTransform

    # Transforms are registered as lookups too. (get_lookups is a class-or-instance method.)
    owners: list[Any] = [models.JSONField, KeyTransform]
    return frozenset(name for owner in owners for name in owner.get_lookups())


def _metadata_document(lookups: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON document that ``pgh_context_metadata__<key>…=value`` filters imply, or ``None``.

    A context whose metadata has ``value`` at the key path contains ``{key: …value}``, so
    ``context_matches(document)`` keeps a superset of the rows the filters keep: it can be added
    in front of them (the filters still decide). Only exact matches of strings, numbers and
    booleans on object keys qualify: ``None`` also matches a missing key, a digit key indexes
    arrays, and other lookups (``__in``, ``__gt``, ``__contains`` ...) are not containment.
    """
    if not any(lookup.startswith(tuple(f"{name}__" for name in _METADATA)) for lookup in lookups):
        return None
    names = _json_lookup_names()
    document: dict[str, Any] = {}
    for lookup, value in lookups.items():
        parts = lookup.split("__")
        if parts[0] not in _METADATA or len(parts) < 2:
            continue
        if parts[-1] == "exact":
            parts.pop()
        keys = parts[1:]
        if (
            not keys
            or any(key in names or key.isdigit() or not key for key in keys)
            or type(value) not in (str, int, float, bool)
        ):
            continue
        node = document
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                return None  # a.b=1 and a=2 together: leave them to the filters
        if keys[-1] in node:
            return None
        node[keys[-1]] = value
    return document or None


class EventsQuerySet(models.QuerySet[Any]):
    """QuerySet of the aggregate stream.

    ``filter(pgh_context_metadata__user=5)`` also narrows the stream with
    ``context_matches({"user": 5})`` first, so the matching contexts are looked up on the
    metadata index instead of testing every event's context newest first (``_metadata_document``).
    """

    def __init__(self, model: Any = None, query: Any = None, using: Any = None, hints: Any = None):
        if query is None and model is not None:
            query = EventsQuery(model)
        super().__init__(model, query, using, hints)

    def _with(self, **attrs: Any) -> EventsQuerySet:
        clone = self._chain()  # type: ignore[attr-defined]
        for name, value in attrs.items():
            setattr(clone.query, name, value)
        return clone

    def filter(self, *args: Any, **kwargs: Any) -> EventsQuerySet:
        document = _metadata_document(kwargs)
        narrowed = self.context_matches(document) if document else self
        # The same rows as the diff's key test, found by a lookup of each event's predecessor as
        # the tables are read (pghistory_core.changes) instead of a diff built for every event.
        changed = kwargs.get("pgh_diff__has_key")
        if isinstance(changed, str) and changed:
            del kwargs["pgh_diff__has_key"]
            # pgh_diff's keys: columns, or attribute names after by_attname().
            by_column = not self.query.pgh_by_attname  # type: ignore[attr-defined]
            test = ChangedFilter([changed], keys_only=True, by_column=by_column)
            narrowed = narrowed._changed(test)
        return models.QuerySet.filter(narrowed, *args, **kwargs)

    def values(self, *fields: Any, **expressions: Any) -> Any:
        # Without arguments, django-pghistory 3.x's columns (pgh_context_metadata is the same
        # as pgh_context; it is returned when asked for).
        return super().values(*(fields or _default_values(self, expressions)), **expressions)

    def values_list(self, *fields: Any, flat: bool = False, named: bool = False) -> Any:
        return super().values_list(*(fields or _default_values(self, {})), flat=flat, named=named)

    def by_attname(self) -> EventsQuerySet:
        """``pgh_data`` and ``pgh_diff`` of the tracked fields only, keyed by the tracked model's
        attribute names (``title``, ``author_id``) instead of the event table's columns."""
        return self._with(pgh_by_attname=True)

    def event_models(self) -> list[type[Event]]:
        """The event models this queryset reads (all installed ones unless ``across()`` narrowed them)."""
        chosen = self.query.pgh_event_models  # type: ignore[attr-defined]
        return list(chosen) if chosen is not None else event_models()

    def across(self, *event_models: Any) -> EventsQuerySet:
        """Only events of these event models (classes or ``"app.Model"`` labels)."""
        return self._with(pgh_event_models=[_resolve_event_model(m) for m in event_models])

    def tracks(self, *objs: Any) -> EventsQuerySet:
        """Only events of these tracked objects (objects, or one list or queryset of them)."""
        current: tuple[_ObjFilter, ...] = self.query.pgh_obj_filters  # type: ignore[attr-defined]
        _refuse_both(current)
        return self._with(pgh_obj_filters=(*current, _ObjFilter(_objects(objs), references=False)))

    def context_matches(self, *alternatives: dict[str, Any]) -> EventsQuerySet:
        """Events whose context metadata contains one of these documents (JSON containment).

        ``context_matches({"user": 5})``; several documents are OR-ed, several calls AND-ed.
        Busy users are tested above the union, others inside each table's branch (``_ContextFilter``).
        """
        current: tuple[Any, ...] = self.query.pgh_obj_filters  # type: ignore[attr-defined]
        context_filter = _ContextFilter(alternatives)
        chained = self._with(pgh_obj_filters=(*current, context_filter))
        return chained.filter(_OuterContextTest(context_filter))

    def changed(self, *fields: str) -> EventsQuerySet:
        """Only events that changed one of these tracked fields (names or attribute names)
        against the object's previous event: those whose ``pgh_diff`` has one of them as a key.

        ``filter(pgh_diff__has_key="price")`` is ``changed("price")``. Tested while each event
        table is read newest first (``pghistory_core.changes``), so a page stops when it is full.
        """
        return self._changed(ChangedFilter(fields))

    def _changed(self, changed_filter: ChangedFilter) -> EventsQuerySet:
        current: tuple[Any, ...] = self.query.pgh_obj_filters  # type: ignore[attr-defined]
        chained = self._with(pgh_obj_filters=(*current, changed_filter))
        return chained.filter(ChangedTest(changed_filter))

    def references(self, *objs: Any) -> EventsQuerySet:
        """Events of these objects and events whose foreign keys point at them.

        The objects are of one model, and ``tracks()`` cannot be combined with it (``ValueError``,
        as in django-pghistory 3.x).
        """
        current: tuple[_ObjFilter, ...] = self.query.pgh_obj_filters  # type: ignore[attr-defined]
        found = _objects(objs)
        if len({concrete(type(obj)) for obj in found}) > 1:
            raise ValueError("The objects passed to references() are not of the same type.")
        _refuse_both(current, references=True)
        return self._with(pgh_obj_filters=(*current, _ObjFilter(found, references=True)))


def _default_values(queryset: models.QuerySet[Any], expressions: dict[str, Any]) -> list[str]:
    if expressions:
        return []
    return [
        f.attname for f in queryset.model._meta.concrete_fields if f.name != "pgh_context_metadata"
    ]


def _refuse_both(current: Sequence[Any], *, references: bool = False) -> None:
    """``tracks()`` and ``references()`` on one queryset: refused, as in 3.x."""
    if any(isinstance(f, _ObjFilter) and f.references is not references for f in current):
        raise ValueError("Cannot use both tracks() and references().")


def _objects(objs: Sequence[Any]) -> list[models.Model]:
    """``tracks(a, b)``, ``tracks([a, b])`` and ``tracks(queryset)`` alike, as in 3.x."""
    if len(objs) == 1 and isinstance(objs[0], list | tuple | models.QuerySet):
        objs = list(objs[0])
    if not objs:
        raise ValueError("tracks() and references() need at least one object.")
    for obj in objs:
        if not isinstance(obj, models.Model):
            raise TypeError(f"tracks() and references() take model instances, not {obj!r}.")
    return list(objs)


class EventsManager(models.Manager.from_queryset(EventsQuerySet)):  # type: ignore[misc]
    """Manager of ``Events`` and its proxies (``MiddlewareEvents``)."""

    def get_queryset(self) -> EventsQuerySet:
        return EventsQuerySet(model=self.model, using=self._db, hints=self._hints)


def filter_event_models(names: Iterable[str]) -> list[type[Event]]:
    """Resolve ``"app.Model"`` labels of event models, ignoring unknown ones."""
    known = {model._meta.label_lower: model for model in event_models()}
    return [known[name.lower()] for name in names if name.lower() in known]
