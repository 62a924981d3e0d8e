"""Filters of the aggregate that narrow each event table's branch: by object (``tracks``,
``references``) and by context metadata (``context_matches``), and the containment document
that ``pgh_context_metadata__<key>=value`` filters imply.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.expressions import Expression
from django.db.models.fields.json import KeyTransform

from pghistory_core.constants import CONTEXT_TABLE
from pghistory_core.meta import column, concrete, field
from pghistory_core.sql_builders import quote

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = [
    "ContextFilter",
    "ObjFilter",
    "OuterContextTest",
    "metadata_document",
    "objects",
    "refuse_both",
]


class ObjFilter:
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


class ContextFilter:
    """Keeps events whose context metadata contains one of several JSON documents.

    Before the query is compiled, the newest ``WALK_RECENT`` contexts are read (the
    ``created_at`` index) to see how many match. A user with at least ``WALK_MIN`` of them, and
    at least ``WALK_SHARE`` of them, is busy right now: the test runs above the union
    (``OuterContextTest``), each table is read newest first along its primary key, and the read
    stops when the page is full. (With a WHERE clause in each branch, a branch cannot be read in
    the union's order: Postgres fetched and sorted every event of the user before returning a
    page, 3 s at 10 million events.) Events of those recent contexts are decided by two hashed
    sets of their ids, the matching and the others, which the query reads itself (shipping them
    as literals made the query 44 kB, 1.3 ms of its 5.6 ms); an older context is looked up by its
    primary key. Newest-first reads meet the newest contexts first, several
    events each, so few lookups remain: a busy user's page at 10 million events read 3,500
    events and looked each one's context up (11 ms) before.

    Otherwise the matching contexts are looked up on the Context table's GIN index (at most
    ``PROBE_LIMIT + 1``). Up to ``PROBE_LIMIT`` of them, their ids are sent: to each event
    table's UNION ALL branch, which probes its ``pgh_context_id`` index (a rare user), or above
    the union when they are at least ``WALK_SHARE`` of all contexts and one is among the newest
    (walked as above: probing would fetch and sort every event of theirs). Beyond, a user with
    many contexts but few of the newest, the test above the union hashes a subquery of them.
    """

    #: Up to this many matching contexts, their ids are sent to each event table.
    PROBE_LIMIT = 5000
    #: How many of the newest contexts are read to see whether a user is busy now...
    WALK_RECENT = 1000
    #: ...which takes at least this many of them that match...
    WALK_MIN = 10
    #: ...and at least this share of them.
    WALK_SHARE = 0.005

    def __init__(self, alternatives: Sequence[dict[str, Any]]) -> None:
        if not alternatives or not all(isinstance(a, dict) and a for a in alternatives):
            raise ValueError("context_matches() takes non-empty dicts of metadata.")
        self.documents = [
            json.dumps(a, cls=DjangoJSONEncoder, sort_keys=True) for a in alternatives
        ]
        #: How many contexts match (at most ``PROBE_LIMIT + 1``) and their ids as a ``uuid[]``
        #: literal (``None`` above ``PROBE_LIMIT``), once resolved (not for a recent walk).
        self.matches = 0
        self.ids: str | None = None
        #: Whether the test runs above the union because the user is busy now (the newest
        #: contexts are read again by the query, ``_recent_sql``).
        self.busy_now = False
        #: Whether the test runs above the union (``outer_sql``) instead of in each branch.
        self.walk = False

    def _tests(self, alias: str) -> str:
        return " OR ".join([f"{alias}.metadata @> %s::jsonb"] * len(self.documents))

    def _recent_sql(self) -> str:
        """The newest ``WALK_RECENT`` contexts' ids, and whether each matches (``m``)."""
        return (
            f"SELECT _pgh_c.id, ({self._tests('_pgh_c')}) IS TRUE AS m "
            f"FROM {CONTEXT_TABLE} AS _pgh_c ORDER BY _pgh_c.created_at DESC LIMIT %s"
        )

    def _recent_params(self) -> list[Any]:
        return [*self.documents, self.WALK_RECENT]

    def resolve(self, connection: Any) -> None:
        """Decide where to test, reading the newest contexts and, unless that decides, the
        matching ones (``PROBE_LIMIT + 1`` at most, with their ids as one ``uuid[]`` literal)."""
        tests = self._tests("_pgh_c")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE _pgh_r.m), count(*) "
                f"FROM ({self._recent_sql()}) AS _pgh_r",
                self._recent_params(),
            )
            recent_matches, recent = cursor.fetchone()
            if recent_matches >= max(self.WALK_MIN, 1) and (
                recent_matches >= self.WALK_SHARE * recent
            ):
                self.busy_now = self.walk = True
                return
            cursor.execute(
                f"WITH _pgh_m AS (SELECT _pgh_c.id FROM {CONTEXT_TABLE} AS _pgh_c "
                f"WHERE {tests} LIMIT %s) "
                "SELECT count(*), CASE WHEN count(*) <= %s THEN array_agg(_pgh_m.id)::text END, "
                "(SELECT reltuples FROM pg_class WHERE oid = %s::regclass) FROM _pgh_m",
                [*self.documents, self.PROBE_LIMIT + 1, self.PROBE_LIMIT, CONTEXT_TABLE],
            )
            self.matches, self.ids, total = cursor.fetchone()
        # A large share of all contexts (by the planner's estimate: no count), one of them
        # recent: reading newest first finds the page sooner than probing every event of them.
        dense = total > 0 and self.matches / float(total) >= self.WALK_SHARE
        self.walk = self.matches > self.PROBE_LIMIT or (dense and recent_matches > 0)

    def outer_sql(self, alias: str) -> tuple[str, list[Any]]:
        """The test above the union (``TRUE`` when the branches test)."""
        if not self.walk:
            return "TRUE", []
        # Not indexable (IS TRUE): the union is read newest first, each table along its primary
        # key, and stops when the page is full. Rows of denormalised (JSON) contexts carry their
        # metadata and were tested in their branch; the others carry NULL there.
        context_id = f"{alias}.pgh_context_id"
        params: list[Any]
        if self.ids is not None:
            test, params = f"{context_id} = ANY(%s::uuid[])", [self.ids]
        elif self.busy_now:
            # The newest contexts as two hashed subplans, each set decided by its own test (the
            # two reads may differ where ``created_at`` ties at the limit: each answer holds
            # anyway). A scalar subquery (never turned into a join) looks each event of an
            # older context up by primary key.
            recent = self._recent_sql()
            test = (
                f"CASE WHEN {context_id} IS NULL THEN FALSE "
                f"WHEN {context_id} IN (SELECT _pgh_r.id FROM ({recent}) AS _pgh_r "
                "WHERE _pgh_r.m) THEN TRUE "
                f"WHEN {context_id} IN (SELECT _pgh_r.id FROM ({recent}) AS _pgh_r "
                "WHERE NOT _pgh_r.m) THEN FALSE "
                f"ELSE (SELECT {self._tests('_pgh_k')} FROM {CONTEXT_TABLE} AS _pgh_k "
                f"WHERE _pgh_k.id = {context_id}) END"
            )
            params = [*self._recent_params(), *self._recent_params(), *self.documents]
        else:
            test = (
                f"{context_id} IN (SELECT _pgh_c.id FROM {CONTEXT_TABLE} AS _pgh_c "
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


class OuterContextTest(Expression):
    """The part of a ``context_matches`` test that runs above the union (see ``ContextFilter``).

    Compiled after the FROM clause, which resolves the filter.
    """

    output_field = models.BooleanField()

    def __init__(self, context_filter: ContextFilter) -> None:
        super().__init__()
        self.context_filter = context_filter

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        return self.context_filter.outer_sql(compiler.quote_alias(compiler.query.base_table))


# pgh_context is the metadata too (django-pghistory 3.x's name).
_METADATA = ("pgh_context_metadata", "pgh_context")


def _json_lookup_names() -> frozenset[str]:
    # Transforms are registered as lookups too. (get_lookups is a class-or-instance method.)
    owners: list[Any] = [models.JSONField, KeyTransform]
    return frozenset(name for owner in owners for name in owner.get_lookups())


def metadata_document(lookups: dict[str, Any]) -> dict[str, Any] | None:
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


def refuse_both(current: Sequence[Any], *, references: bool = False) -> None:
    """``tracks()`` and ``references()`` on one queryset: refused, as in 3.x."""
    if any(isinstance(f, ObjFilter) and f.references is not references for f in current):
        raise ValueError("Cannot use both tracks() and references().")


def objects(objs: Sequence[Any]) -> list[models.Model]:
    """``tracks(a, b)``, ``tracks([a, b])`` and ``tracks(queryset)`` alike, as in 3.x."""
    if len(objs) == 1 and isinstance(objs[0], list | tuple | models.QuerySet):
        objs = list(objs[0])
    if not objs:
        raise ValueError("tracks() and references() need at least one object.")
    for obj in objs:
        if not isinstance(obj, models.Model):
            raise TypeError(f"tracks() and references() take model instances, not {obj!r}.")
    return list(objs)
