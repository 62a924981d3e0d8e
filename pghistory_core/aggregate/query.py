"""The aggregate's query, compiler, queryset and manager: a ``Query`` whose base table is the
``UNION ALL`` of the chosen event tables (``union``), narrowed by ``filters`` and ``changes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.db import connections, models
from django.db.models.expressions import Col
from django.db.models.sql import Query
from django.db.models.sql.compiler import SQLCompiler

from pghistory_core.aggregate.filters import (
    ContextFilter,
    ObjFilter,
    OuterContextTest,
    metadata_document,
    objects,
    refuse_both,
)
from pghistory_core.aggregate.union import (
    branch_sql,
    empty_sql,
    lazy_diff_sql,
    lazy_metadata_sql,
    proxy_fields,
)
from pghistory_core.changes import ChangedFilter, ChangedTest
from pghistory_core.meta import concrete
from pghistory_core.registry import event_models, resolve_event_model

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = ["EventsCompiler", "EventsManager", "EventsQuery", "EventsQuerySet"]


class EventsQuery(Query):
    """A ``Query`` whose base table is the union of the chosen event tables."""

    pgh_event_models: list[type[Event]] | None = None
    pgh_obj_filters: tuple[ObjFilter | ContextFilter | ChangedFilter, ...] = ()
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
            if isinstance(obj_filter, ContextFilter):
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
            return empty_sql(proxies, connection), []
        return " UNION ALL ".join(parts), params


class EventsCompiler(SQLCompiler):
    """Replaces the aggregate's table name with the union of event tables.

    ``pgh_diff`` and ``pgh_context_metadata`` are compiled as expressions over the union's row
    (see ``lazy_diff_sql``), wherever the query uses them (select list, filters, ordering).
    """

    query: EventsQuery

    def compile(self, node: Any) -> Any:
        model = self.query.model
        if (
            isinstance(node, Col)
            and model is not None
            and concrete(node.target.model) is concrete(model)
        ):
            name = node.target.name
            if name == "pgh_diff":
                chosen = self.query.event_models_chosen()
                by_attname = self.query.pgh_by_attname
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
                union, union_params = self.query.union_sql(self.connection)
                alias = part[len(table) :].strip() or table
                result[index] = f"({union}) {alias}"
                params = type(params)([*union_params, *params])
                break
        return result, params


class EventsQuerySet(models.QuerySet[Any]):
    """QuerySet of the aggregate stream.

    ``filter(pgh_context_metadata__user=5)`` also narrows the stream with
    ``context_matches({"user": 5})`` first, so the matching contexts are looked up on the
    metadata index instead of testing every event's context newest first (``metadata_document``).
    """

    def __init__(self, model: Any = None, query: Any = None, using: Any = None, hints: Any = None):
        if query is None and model is not None:
            query = EventsQuery(model)
        super().__init__(model, query, using, hints)

    @property
    def events_query(self) -> EventsQuery:
        """``query``, typed as the aggregate's."""
        return cast(EventsQuery, self.query)

    def _with(self, **attrs: Any) -> EventsQuerySet:
        clone = self.all()
        for name, value in attrs.items():
            setattr(clone.query, name, value)
        return clone

    def filter(self, *args: Any, **kwargs: Any) -> EventsQuerySet:
        document = metadata_document(kwargs)
        narrowed = self.context_matches(document) if document else self
        # The same rows as the diff's key test, found by a lookup of each event's predecessor as
        # the tables are read (pghistory_core.changes) instead of a diff built for every event.
        changed = kwargs.get("pgh_diff__has_key")
        if isinstance(changed, str) and changed:
            del kwargs["pgh_diff__has_key"]
            # pgh_diff's keys: columns, or attribute names after by_attname().
            by_column = not self.events_query.pgh_by_attname
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
        chosen = self.events_query.pgh_event_models
        return list(chosen) if chosen is not None else event_models()

    def across(self, *event_models: Any) -> EventsQuerySet:
        """Only events of these event models (classes or ``"app.Model"`` labels)."""
        return self._with(pgh_event_models=[resolve_event_model(m) for m in event_models])

    def tracks(self, *objs: Any) -> EventsQuerySet:
        """Only events of these tracked objects (objects, or one list or queryset of them)."""
        current = self.events_query.pgh_obj_filters
        refuse_both(current)
        return self._with(pgh_obj_filters=(*current, ObjFilter(objects(objs), references=False)))

    def context_matches(self, *alternatives: dict[str, Any]) -> EventsQuerySet:
        """Events whose context metadata contains one of these documents (JSON containment).

        ``context_matches({"user": 5})``; several documents are OR-ed, several calls AND-ed.
        Busy users are tested above the union, others inside each table's branch (``ContextFilter``).
        """
        current = self.events_query.pgh_obj_filters
        context_filter = ContextFilter(alternatives)
        chained = self._with(pgh_obj_filters=(*current, context_filter))
        return chained.filter(OuterContextTest(context_filter))

    def changed(self, *fields: str) -> EventsQuerySet:
        """Only events that changed one of these tracked fields (names or attribute names)
        against the object's previous event: those whose ``pgh_diff`` has one of them as a key.

        ``filter(pgh_diff__has_key="price")`` is ``changed("price")``. Tested while each event
        table is read newest first (``pghistory_core.changes``), so a page stops when it is full.
        """
        return self._changed(ChangedFilter(fields))

    def _changed(self, changed_filter: ChangedFilter) -> EventsQuerySet:
        current = self.events_query.pgh_obj_filters
        chained = self._with(pgh_obj_filters=(*current, changed_filter))
        return chained.filter(ChangedTest(changed_filter))

    def references(self, *objs: Any) -> EventsQuerySet:
        """Events of these objects and events whose foreign keys point at them.

        The objects are of one model, and ``tracks()`` cannot be combined with it (``ValueError``,
        as in django-pghistory 3.x).
        """
        current = self.events_query.pgh_obj_filters
        found = objects(objs)
        if len({concrete(type(obj)) for obj in found}) > 1:
            raise ValueError("The objects passed to references() are not of the same type.")
        refuse_both(current, references=True)
        return self._with(pgh_obj_filters=(*current, ObjFilter(found, references=True)))


def _default_values(queryset: models.QuerySet[Any], expressions: dict[str, Any]) -> list[str]:
    if expressions:
        return []
    return [
        f.attname for f in queryset.model._meta.concrete_fields if f.name != "pgh_context_metadata"
    ]


class EventsManager(models.Manager.from_queryset(EventsQuerySet)):  # type: ignore[misc]
    """Manager of ``Events`` and its proxies (``MiddlewareEvents``)."""

    def get_queryset(self) -> EventsQuerySet:
        return EventsQuerySet(model=self.model, using=self._db, hints=self._hints)
