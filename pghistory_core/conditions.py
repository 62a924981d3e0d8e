"""Conditions deciding which rows of a statement produce events.

Conditions render SQL over ``OLD`` and ``NEW``. Row-level triggers use it as the trigger's
``WHEN`` clause; statement-level triggers apply it to the joined transition tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import pgtrigger
from django.db import models

from pghistory_core import meta
from pghistory_core.sql_builders import quote

F = pgtrigger.F
_ROW_REFERENCE = re.compile(r"\b(OLD|NEW)\.")


class Condition:
    """Free-form SQL over ``OLD`` and ``NEW``, e.g. ``Condition('NEW."price" > 0')``."""

    sql: str | None = None

    def __init__(self, sql: str | None = None) -> None:
        self.sql = sql or self.sql
        if not self.sql:
            raise ValueError("Condition needs SQL, e.g. Condition('NEW.\"price\" > 0').")

    def resolve(self, model: type[models.Model], tracked: Sequence[str] = ()) -> str:
        """The SQL of the condition for ``model`` whose ``tracked`` field names are copied."""
        return str(self.sql)

    def __and__(self, other: Condition) -> Condition:
        return _Combined("AND", self, other)

    def __or__(self, other: Condition) -> Condition:
        return _Combined("OR", self, other)

    def __invert__(self) -> Condition:
        return _Negated(self)


class _Combined(Condition):
    def __init__(self, operator: str, *parts: Condition) -> None:
        self.operator = operator
        self.parts = parts

    def resolve(self, model: type[models.Model], tracked: Sequence[str] = ()) -> str:
        joined = f" {self.operator} ".join(
            f"({part.resolve(model, tracked)})" for part in self.parts
        )
        return f"({joined})"


class _Negated(Condition):
    def __init__(self, part: Condition) -> None:
        self.part = part

    def resolve(self, model: type[models.Model], tracked: Sequence[str] = ()) -> str:
        return f"NOT ({self.part.resolve(model, tracked)})"


class Q(pgtrigger.Q, Condition):  # type: ignore[misc]
    """Django-style lookups on ``old__<field>`` and ``new__<field>``."""

    def resolve(self, model: type[models.Model], tracked: Sequence[str] = ()) -> str:
        return str(pgtrigger.Q.resolve(self, model))


class _Change(Condition):
    """Compares the old and new value of fields (default: every tracked field)."""

    _all = False
    _distinct = True

    def __init__(
        self,
        *fields: str,
        exclude: Iterable[str] | None = None,
        exclude_auto: bool = False,
    ) -> None:
        self.fields = list(fields)
        self.exclude = list(exclude or [])
        self.exclude_auto = exclude_auto

    def _columns(self, model: type[models.Model], tracked: Sequence[str]) -> list[str]:
        opts = model._meta
        names = self.fields or list(tracked) or [f.name for f in opts.concrete_fields]
        excluded = {opts.get_field(name).name for name in self.exclude}
        columns: list[str] = []
        for name in names:
            field = meta.field(model, name)
            if field.many_to_many or not field.column:
                raise ValueError(f"{type(self).__name__}: {model.__name__}.{name} has no column.")
            if field.name in excluded:
                continue
            if self.exclude_auto and (
                getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
            ):
                continue
            if meta.concrete(field.model) is not meta.concrete(model):
                continue  # a parent's column is not in this table's OLD/NEW rows
            columns.append(field.column)
        return columns

    def resolve(self, model: type[models.Model], tracked: Sequence[str] = ()) -> str:
        columns = self._columns(model, tracked)
        if not columns:
            return "FALSE" if self._distinct else "TRUE"
        op = "IS DISTINCT FROM" if self._distinct else "IS NOT DISTINCT FROM"
        glue = " AND " if self._all else " OR "
        quoted = [f"OLD.{quote(column)} {op} NEW.{quote(column)}" for column in columns]
        return f"({glue.join(quoted)})"


class AnyChange(_Change):
    """True when any of the fields changed."""


class AllChange(_Change):
    """True when all of the fields changed."""

    _all = True


class AnyDontChange(_Change):
    """True when any of the fields kept its value."""

    _distinct = False


class AllDontChange(_Change):
    """True when none of the fields changed."""

    _all = True
    _distinct = False


def for_transition_tables(sql: str, old_alias: str, new_alias: str) -> str:
    """Rewrite ``OLD.``/``NEW.`` references to the aliases of joined transition tables."""
    return _ROW_REFERENCE.sub(
        lambda match: f"{old_alias if match.group(1) == 'OLD' else new_alias}.", sql
    )


def references(sql: str) -> set[str]:
    """Which of ``OLD`` and ``NEW`` a condition's SQL uses."""
    return {match.group(1) for match in _ROW_REFERENCE.finditer(sql)}


__all__: list[Any] = [
    "AllChange",
    "AllDontChange",
    "AnyChange",
    "AnyDontChange",
    "Condition",
    "F",
    "Q",
]
