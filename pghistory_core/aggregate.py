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
from django.db.models.sql import Query
from django.db.models.sql.compiler import SQLCompiler

from pghistory_core.meta import column, concrete, field
from pghistory_core.triggers import literal, quote

if TYPE_CHECKING:
    from pghistory_core.models import Event

_CONTEXT_TABLE = "pghistory_core_context"
_MAX_PAIRS = 50  # jsonb_build_object takes at most 100 arguments
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
        if issubclass(model, Event) and getattr(model, "pgh_tracked_model", None) is not None
    ]


def _resolve_event_model(value: Any) -> type[Event]:
    model = apps.get_model(value) if isinstance(value, str) else value
    if model not in event_models():
        raise ValueError(f"{value!r} is not an installed event model.")
    return model


def data_sql(event_model: type[Event], alias: str) -> str:
    """``jsonb`` of the tracked values of an event row, keyed by the tracked attribute names."""
    tracked = event_model.pgh_tracked_model
    pairs = [
        f"{literal(field(tracked, name).attname)}, {alias}.{quote(column(event_model, name))}"
        for name in event_model.pgh_tracked_fields
    ]
    if not pairs:
        return "'{}'::jsonb"
    chunks = [pairs[i : i + _MAX_PAIRS] for i in range(0, len(pairs), _MAX_PAIRS)]
    return " || ".join(f"jsonb_build_object({', '.join(chunk)})" for chunk in chunks)


def diff_sql(event_model: type[Event], alias: str) -> str:
    """``{attname: [old, new]}`` against the object's previous event (NULL for the first)."""
    if not event_model.pgh_has_obj:
        return "NULL::jsonb"
    table = quote(event_model._meta.db_table)
    obj = quote(column(event_model, "pgh_obj"))
    return (
        "(SELECT CASE WHEN _pgh_prev.d IS NULL THEN NULL ELSE ("
        "SELECT COALESCE(jsonb_object_agg(_pgh_cur.key, "
        "jsonb_build_array(_pgh_prev.d -> _pgh_cur.key, _pgh_cur.value)), '{}'::jsonb) "
        f"FROM jsonb_each({data_sql(event_model, alias)}) AS _pgh_cur "
        "WHERE (_pgh_prev.d -> _pgh_cur.key) IS DISTINCT FROM _pgh_cur.value) END "
        f"FROM (SELECT {data_sql(event_model, '_pgh_p')} AS d FROM {table} AS _pgh_p "
        f"WHERE _pgh_p.{obj} = {alias}.{obj} AND _pgh_p.pgh_id < {alias}.pgh_id "
        "ORDER BY _pgh_p.pgh_id DESC LIMIT 1) AS _pgh_prev)"
    )


def _metadata_sql(event_model: type[Event], alias: str) -> str:
    if event_model.pgh_context_kind == "json":
        return f"{alias}.{quote(column(event_model, 'pgh_context'))}"
    if event_model.pgh_context_kind == "fk":
        context_column = quote(column(event_model, "pgh_context"))
        return f"(SELECT _pgh_c.metadata FROM {_CONTEXT_TABLE} AS _pgh_c WHERE _pgh_c.id = {alias}.{context_column})"
    return "NULL::jsonb"


def _context_id_sql(event_model: type[Event], alias: str) -> str:
    if event_model.pgh_context_kind == "fk":
        return f"{alias}.{quote(column(event_model, 'pgh_context'))}"
    if event_model.pgh_has_context_id:
        return f"{alias}.{quote(column(event_model, 'pgh_context_id'))}"
    return "NULL::uuid"


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
            for name in event_model.pgh_tracked_fields:
                tracked_field = field(event_model.pgh_tracked_model, name)
                target = tracked_field.related_model
                if not (tracked_field.many_to_one or tracked_field.one_to_one) or target is None:
                    continue
                target_pks = self.by_model.get(concrete(target))
                if target_pks:
                    fk_column = quote(column(event_model, name))
                    placeholders = ", ".join(["%s"] * len(target_pks))
                    clauses.append(f"{alias}.{fk_column} IN ({placeholders})")
                    params.extend(target_pks)
        return clauses, params


class _ContextFilter:
    """Keeps events whose context metadata contains one of several JSON documents."""

    def __init__(self, alternatives: Sequence[dict[str, Any]]) -> None:
        if not alternatives or not all(isinstance(a, dict) and a for a in alternatives):
            raise ValueError("context_matches() takes non-empty dicts of metadata.")
        self.documents = [
            json.dumps(a, cls=DjangoJSONEncoder, sort_keys=True) for a in alternatives
        ]

    def clauses(self, event_model: type[Event], alias: str) -> tuple[list[str], list[Any]]:
        """OR-able clauses: a containment test the Context table's GIN index answers."""
        kind = event_model.pgh_context_kind
        if kind == "fk":
            context_column = quote(column(event_model, "pgh_context"))
            tests = " OR ".join(["_pgh_c.metadata @> %s::jsonb"] * len(self.documents))
            return (
                [
                    f"{alias}.{context_column} IN (SELECT _pgh_c.id FROM {_CONTEXT_TABLE} "
                    f"AS _pgh_c WHERE {tests})"
                ],
                list(self.documents),
            )
        if kind == "json":
            context_column = quote(column(event_model, "pgh_context"))
            return [f"{alias}.{context_column} @> %s::jsonb" for _ in self.documents], list(
                self.documents
            )
        return [], []


def branch_sql(
    event_model: type[Event],
    *,
    middleware: bool,
    obj_filters: Sequence[_ObjFilter | _ContextFilter],
) -> tuple[str, list[Any]] | None:
    """One ``SELECT`` of the union; ``None`` when the filters exclude the whole table."""
    alias = "_pgh_e"
    obj_column = (
        f"{alias}.{quote(column(event_model, 'pgh_obj'))}::text"
        if event_model.pgh_has_obj
        else "NULL::text"
    )
    columns = [
        f"{alias}.pgh_id AS pgh_id",
        f"{alias}.{quote(column(event_model, 'pgh_created_at'))} AS pgh_created_at",
        f"{alias}.pgh_label::text AS pgh_label",
        f"{literal(event_model._meta.label)}::text AS pgh_model",
        f"{literal(event_model.pgh_tracked_model._meta.label)}::text AS pgh_obj_model",
        f"{obj_column} AS pgh_obj_id",
        f"{data_sql(event_model, alias)} AS pgh_data",
        f"{diff_sql(event_model, alias)} AS pgh_diff",
        f"{_context_id_sql(event_model, alias)} AS pgh_context_id",
        f"{_metadata_sql(event_model, alias)} AS pgh_context_metadata",
    ]
    if middleware:
        from django.contrib.auth import get_user_model

        user_pk = get_user_model()._meta.pk
        if user_pk is None:  # pragma: no cover - every concrete model has a primary key
            raise TypeError("The user model has no primary key.")
        user_type = user_pk.rel_db_type(connections["default"]) or "text"
        metadata = _metadata_sql(event_model, alias)
        user = f"(({metadata}) ->> 'user')"
        # A context may carry a user that is not a primary key ("bob"): NULL, not an error.
        pattern = _PK_PATTERNS.get(user_type.split("(")[0].strip().lower())
        if pattern:
            user = f"CASE WHEN {user} ~ '{pattern}' THEN {user} END"
        columns.append(f"({user})::{user_type} AS user_id")
        columns.append(f"(({metadata}) ->> 'url')::text AS url")
    sql = f"SELECT {', '.join(columns)} FROM {quote(event_model._meta.db_table)} AS {alias}"
    wheres: list[str] = []
    params: list[Any] = []
    for obj_filter in obj_filters:
        clauses, clause_params = obj_filter.clauses(event_model, alias)
        if not clauses:
            return None
        wheres.append("(" + " OR ".join(clauses) + ")")
        params.extend(clause_params)
    if wheres:
        sql += " WHERE " + " AND ".join(wheres)
    return sql, params


def _empty_sql(middleware: bool) -> str:
    columns = (
        "NULL::bigint AS pgh_id, NULL::timestamptz AS pgh_created_at, NULL::text AS pgh_label, "
        "NULL::text AS pgh_model, NULL::text AS pgh_obj_model, NULL::text AS pgh_obj_id, "
        "NULL::jsonb AS pgh_data, NULL::jsonb AS pgh_diff, NULL::uuid AS pgh_context_id, "
        "NULL::jsonb AS pgh_context_metadata"
    )
    if middleware:
        columns += ", NULL AS user_id, NULL::text AS url"
    return f"SELECT {columns} WHERE FALSE"


class EventsQuery(Query):
    """A ``Query`` whose base table is the union of the chosen event tables."""

    pgh_event_models: list[type[Event]] | None = None
    pgh_obj_filters: tuple[_ObjFilter | _ContextFilter, ...] = ()
    pgh_middleware: bool = False

    def get_compiler(
        self, using: str | None = None, connection: Any = None, elide_empty: bool = True
    ) -> SQLCompiler:
        if using:
            connection = connections[using]
        return EventsCompiler(self, connection, using, elide_empty)

    def union_sql(self) -> tuple[str, list[Any]]:
        """The SQL standing in for the aggregate's table."""
        chosen = self.pgh_event_models if self.pgh_event_models is not None else event_models()
        parts, params = [], []
        for event_model in chosen:
            branch = branch_sql(
                event_model, middleware=self.pgh_middleware, obj_filters=self.pgh_obj_filters
            )
            if branch is not None:
                parts.append(branch[0])
                params.extend(branch[1])
        if not parts:
            return _empty_sql(self.pgh_middleware), []
        return " UNION ALL ".join(parts), params


class EventsCompiler(SQLCompiler):
    """Replaces the aggregate's table name with the union of event tables."""

    def get_from_clause(self) -> Any:
        result, params = super().get_from_clause()
        table = self.connection.ops.quote_name(self.query.get_meta().db_table)
        for index, part in enumerate(result):
            if part == table or part.startswith(f"{table} "):
                union, union_params = self.query.union_sql()  # type: ignore[attr-defined]
                alias = part[len(table) :].strip() or table
                result[index] = f"({union}) {alias}"
                params = type(params)([*union_params, *params])
                break
        return result, params


class EventsQuerySet(models.QuerySet[Any]):
    """QuerySet of the aggregate stream."""

    def __init__(self, model: Any = None, query: Any = None, using: Any = None, hints: Any = None):
        if query is None and model is not None:
            query = EventsQuery(model)
        super().__init__(model, query, using, hints)

    def _with(self, **attrs: Any) -> EventsQuerySet:
        clone = self._chain()  # type: ignore[attr-defined]
        for name, value in attrs.items():
            setattr(clone.query, name, value)
        return clone

    def event_models(self) -> list[type[Event]]:
        """The event models this queryset reads (all installed ones unless ``across()`` narrowed them)."""
        chosen = self.query.pgh_event_models  # type: ignore[attr-defined]
        return list(chosen) if chosen is not None else event_models()

    def across(self, *event_models: Any) -> EventsQuerySet:
        """Only events of these event models (classes or ``"app.Model"`` labels)."""
        return self._with(pgh_event_models=[_resolve_event_model(m) for m in event_models])

    def tracks(self, *objs: models.Model) -> EventsQuerySet:
        """Only events of these tracked objects."""
        current: tuple[_ObjFilter, ...] = self.query.pgh_obj_filters  # type: ignore[attr-defined]
        return self._with(pgh_obj_filters=(*current, _ObjFilter(objs, references=False)))

    def context_matches(self, *alternatives: dict[str, Any]) -> EventsQuerySet:
        """Events whose context metadata contains one of these documents (JSON containment).

        ``context_matches({"user": 5})``; several documents are OR-ed, several calls AND-ed.
        The test runs inside each event table's branch, on the Context table's GIN index.
        """
        current: tuple[Any, ...] = self.query.pgh_obj_filters  # type: ignore[attr-defined]
        return self._with(pgh_obj_filters=(*current, _ContextFilter(alternatives)))

    def references(self, *objs: models.Model) -> EventsQuerySet:
        """Events of these objects and events whose tracked foreign keys point at them."""
        current: tuple[_ObjFilter, ...] = self.query.pgh_obj_filters  # type: ignore[attr-defined]
        return self._with(pgh_obj_filters=(*current, _ObjFilter(objs, references=True)))


class EventsManager(models.Manager.from_queryset(EventsQuerySet)):  # type: ignore[misc]
    """Manager of ``Events`` and ``MiddlewareEvents``."""

    def __init__(self, middleware: bool = False) -> None:
        super().__init__()
        self.pgh_middleware = middleware

    def get_queryset(self) -> EventsQuerySet:
        queryset = EventsQuerySet(model=self.model, using=self._db, hints=self._hints)
        queryset.query.pgh_middleware = self.pgh_middleware  # type: ignore[attr-defined]
        return queryset


def filter_event_models(names: Iterable[str]) -> list[type[Event]]:
    """Resolve ``"app.Model"`` labels of event models, ignoring unknown ones."""
    known = {model._meta.label_lower: model for model in event_models()}
    return [known[name.lower()] for name in names if name.lower() in known]
