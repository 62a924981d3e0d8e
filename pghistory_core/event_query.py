"""Querysets of event models: a proxy of an event model may declare ``ProxyField``\\ s.

``class ItemEventProxy(Item.pgh_event_model): user = ProxyField("pgh_context__metadata__user",
models.ForeignKey(User, ...))`` with ``proxy = True`` (django-pghistory 3.x's pattern) reads
``user`` like a column: the event table is replaced in the query's FROM clause by a subquery of
it that computes the proxied values, so filters, ``values()`` and joins through the proxied
foreign key work unchanged.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, models
from django.db.models.sql import Query
from django.db.models.sql.compiler import SQLCompiler

from pghistory_core.event_model import proxy_expression
from pghistory_core.meta import concrete


def proxied_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    """The fields of ``model`` whose values a ``ProxyField`` path computes."""
    return [f for f in model._meta.concrete_fields if hasattr(f, "pgh_proxy")]


class EventProxyCompiler(SQLCompiler):
    """Reads the event table through a subquery adding the proxied columns."""

    def get_from_clause(self) -> Any:
        result, params = super().get_from_clause()
        table = self.connection.ops.quote_name(self.query.get_meta().db_table)
        for index, part in enumerate(result):
            if part == table or part.startswith(f"{table} "):
                inner, inner_params = self._proxied_sql()
                alias = part[len(table) :].strip() or table
                result[index] = f"({inner}) {alias}"
                params = type(params)([*inner_params, *params])
                break
        return result, params

    def _proxied_sql(self) -> tuple[str, tuple[Any, ...]]:
        model = self.query.model
        if model is None:  # pragma: no cover - event querysets always have a model
            raise TypeError("An event query needs a model.")
        base = concrete(model)
        proxies = proxied_fields(model)
        names = {f.name for f in base._meta.get_fields()}
        clash = [f.column for f in proxies if f.column in names]
        if clash:
            raise ValueError(
                f"{model.__name__}: proxied column(s) {clash} clash with fields of {base.__name__}."
            )
        annotations = {str(f.column): proxy_expression(base, f) for f in proxies}
        columns = [f.attname for f in base._meta.concrete_fields]
        inner = models.QuerySet(base).annotate(**annotations).values(*columns, *annotations)
        sql, params = inner.query.get_compiler(connection=self.connection).as_sql()
        return sql, tuple(params)


class EventQuery(Query):
    """A ``Query`` that compiles with ``EventProxyCompiler`` when its model proxies fields."""

    def get_compiler(
        self, using: str | None = None, connection: Any = None, elide_empty: bool = True
    ) -> Any:
        if using:
            connection = connections[using]
        if self.model is not None and self.compiler == "SQLCompiler" and proxied_fields(self.model):
            return EventProxyCompiler(self, connection, using, elide_empty)
        return super().get_compiler(using, connection, elide_empty)


class EventQuerySet(models.QuerySet[Any]):
    """The default queryset of event models (plain unless the model proxies fields)."""

    def __init__(self, model: Any = None, query: Any = None, using: Any = None, hints: Any = None):
        if query is None and model is not None:
            query = EventQuery(model)
        super().__init__(model, query, using, hints)


EventManager = models.Manager.from_queryset(EventQuerySet)
