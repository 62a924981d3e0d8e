"""``Events.objects.changed(field)``: events that changed a tracked field.

An event changed a field when the object's previous event (same event table) holds another
value, compared as ``pgh_diff`` compares them (``to_jsonb`` of both): exactly the events whose
``pgh_diff`` has that key. Nothing is recorded at write time: each event read costs a lookup of
its predecessor on the ``(pgh_obj_id, pgh_id)`` index.

Event tables that do not track the field leave the union. When one table is left, the test is a
``WHERE`` clause of its branch. With several, it runs above the union: a branch with a ``WHERE``
clause keeps Postgres from merging the tables' primary keys in ``pgh_id`` order, so it would test
and sort every event; above it, the test is pushed into each table's scan (at the cost of looking
the event itself up again by primary key, about half as much again per event). Either way each
table is read newest first and the read stops when the page is full: a field changed in 1% of the
events costs about a hundred lookups per row shown. A field that rarely changes makes the read go far back; callers that must
stay bounded limit the ``pgh_id`` range (the admin does, see ``pghistory_admin.search_limit``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models.expressions import Expression

from pghistory_core.meta import column, field
from pghistory_core.sql_builders import literal, quote

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = ["ChangedFilter", "ChangedTest", "changed_columns"]


def changed_columns(
    event_model: type[Event],
    names: Sequence[str],
    *,
    keys_only: bool = False,
    by_column: bool = False,
) -> list[str]:
    """The quoted columns of ``event_model``'s tracked fields named (or with an attribute or a
    column named) in ``names``; none for an event model without objects (their events have no diff).

    ``keys_only``: the keys of ``pgh_diff`` only: columns (``book_title``, as in django-pghistory
    3.x) with ``by_column``, else attribute names (``author_id``, not ``author``; ``by_attname()``).
    """
    if not event_model.pgh_has_obj:
        return []
    tracked = event_model.pgh_tracked_model
    found = []
    for name in event_model.pgh_tracked_fields:
        tracked_field = field(tracked, name)
        event_column = column(event_model, name)
        if keys_only:
            hit = (event_column if by_column else tracked_field.attname) in names
        else:
            hit = tracked_field.attname in names or name in names or event_column in names
        if hit:
            found.append(quote(event_column))
    return found


class ChangedFilter:
    """Keeps events whose diff against the object's previous event has one of some fields."""

    def __init__(
        self, names: Sequence[str], *, keys_only: bool = False, by_column: bool = False
    ) -> None:
        if not names or not all(isinstance(name, str) and name for name in names):
            raise ValueError("changed() takes the names of tracked fields, e.g. changed('price').")
        self.names = tuple(dict.fromkeys(names))
        self.keys_only = keys_only
        self.by_column = by_column
        #: Whether the test is a clause of the one branch that can match (set by ``resolve``).
        self.inner = False

    def columns(self, event_model: type[Event]) -> list[str]:
        return changed_columns(
            event_model, self.names, keys_only=self.keys_only, by_column=self.by_column
        )

    def resolve(self, event_models: Sequence[type[Event]]) -> None:
        """Decide where the test runs, for a union of ``event_models`` (before compiling it)."""
        self.inner = sum(1 for event_model in event_models if self.columns(event_model)) == 1

    def test_sql(self, event_model: type[Event], row: str) -> str:
        """Whether the event ``row`` of ``event_model``'s table changed a field (NULL: it has no
        predecessor, an object's first event has no diff), by one probe of the object's index."""
        table = quote(event_model._meta.db_table)
        obj = quote(column(event_model, "pgh_obj"))
        tests = " OR ".join(
            f"to_jsonb(_pgh_p.{col}) IS DISTINCT FROM to_jsonb({row}.{col})"
            for col in self.columns(event_model)
        )
        return (
            f"(SELECT {tests} FROM {table} AS _pgh_p WHERE _pgh_p.{obj} = {row}.{obj} "
            f"AND _pgh_p.pgh_id < {row}.pgh_id ORDER BY _pgh_p.pgh_id DESC LIMIT 1)"
        )

    def clauses(self, event_model: type[Event], alias: str) -> tuple[list[str], list[Any]] | None:
        """The clause of the branch (``None``: tested above the union, see ``outer_sql``); none
        at all (``[]``) takes a table that cannot match out of the union."""
        if not self.columns(event_model):
            return [], []
        if not self.inner:
            return None
        return [f"{self.test_sql(event_model, alias)} IS TRUE"], []

    def outer_sql(self, event_models: Sequence[type[Event]], alias: str) -> str:
        """The test of a row of the union (``alias``), unless its branch tests it.

        A ``CASE`` on ``pgh_model``, which Postgres folds to one branch in each table's scan.
        """
        if self.inner:
            return "TRUE"
        branches = []
        for event_model in event_models:
            if not self.columns(event_model):
                continue
            # The event itself by primary key (its page is the one just read), then the test.
            table = quote(event_model._meta.db_table)
            branches.append(
                f"WHEN {literal(event_model._meta.label)} THEN (SELECT "
                f"{self.test_sql(event_model, '_pgh_n')} FROM {table} AS _pgh_n "
                f"WHERE _pgh_n.pgh_id = {alias}.pgh_id)"
            )
        if not branches:
            return "FALSE"
        return f"(CASE {alias}.pgh_model {' '.join(branches)} END) IS TRUE"


class ChangedTest(Expression):
    """The ``WHERE`` condition of ``ChangedFilter`` above the union."""

    output_field = models.BooleanField()

    def __init__(self, changed_filter: ChangedFilter) -> None:
        super().__init__()
        self.changed_filter = changed_filter

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        chosen = compiler.query.event_models_chosen()
        alias = compiler.quote_alias(compiler.query.base_table)
        return self.changed_filter.outer_sql(chosen, alias), []
