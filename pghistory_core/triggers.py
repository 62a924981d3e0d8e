"""Generation of the PL/pgSQL triggers that write events.

Statement-level triggers (the default) write all events of a statement with one
``INSERT … SELECT`` over the statement's transition tables and resolve the context once.
Old and new rows of an UPDATE are paired on the primary key; rows whose primary key
changes are written by a companion row-level trigger, which tells the statement trigger to
skip them. Row-level triggers (``level=pgtrigger.Row``) write one event per row.

One concept over 300 lines: the SQL of both levels and of the primary-key companion is
built from the same pieces, which must stay in step.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pgtrigger
import pgtrigger.core
from django.db import models
from pgtrigger import compiler

from pghistory_core import config
from pghistory_core.conditions import Condition, for_transition_tables, references
from pghistory_core.constants import CONTEXT_ID_SETTING, KEY_CHANGE_TABLE
from pghistory_core.meta import column, concrete, field, pk
from pghistory_core.sql_builders import literal, quote
from pghistory_core.through import trigger_model
from pghistory_core.trigger_sql import (
    EventTriggerSql,
    GenericPlanEventTriggerSql,
    GenericPlanHashJoinEventTriggerSql,
)

if TYPE_CHECKING:
    from pghistory_core.models import Event
    from pghistory_core.trackers import RowEvent

_OLD_ROWS = "_pgh_old_rows"
_NEW_ROWS = "_pgh_new_rows"
_OLD = "_pgh_old"
_NEW = "_pgh_new"
_MAX_NAME = 47


def _trigger_name(base: str, suffix: str) -> str:
    name = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in f"{base}_{suffix}")
    if len(name) > _MAX_NAME:
        digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:6]
        name = f"{name[: _MAX_NAME - 7]}_{digest}"
    return name


def _pk_column(event_model: type[Event]) -> str:
    tracked = event_model.pgh_tracked_model
    return column(tracked, pk(tracked).name)


@dataclass(frozen=True)
class Values:
    """SQL filling the label and context columns: trigger variables by default."""

    label: str = "_pgh_label"
    context_id: str = "_pgh_ctx_id"
    context_metadata: str = "_pgh_ctx_meta"


def _context_expressions(event_model: type[Event], values: Values) -> list[tuple[str, str]]:
    kind = event_model.pgh_context_kind
    pairs = []
    if kind == "fk":
        pairs.append((column(event_model, "pgh_context"), values.context_id))
    elif kind == "json":
        pairs.append((column(event_model, "pgh_context"), values.context_metadata))
        if event_model.pgh_has_context_id:
            pairs.append((column(event_model, "pgh_context_id"), values.context_id))
    return pairs


def _source(
    event_model: type[Event], row: str, variables: Values
) -> tuple[list[str], list[str], list[str]]:
    """Columns of the event table, the SQL that fills them from ``row``, and joins needed."""
    tracked = event_model.pgh_tracked_model
    pk_column = column(tracked, pk(tracked).name)
    columns = [column(event_model, "pgh_created_at"), "pgh_label"]
    values = [config.created_at_function(), variables.label]
    if event_model.pgh_has_obj:
        columns.append(column(event_model, "pgh_obj"))
        values.append(f"{row}.{quote(pk_column)}")
    for context_column, variable in _context_expressions(event_model, variables):
        columns.append(context_column)
        values.append(variable)

    joins: dict[type[models.Model], str] = {}
    for name in event_model.pgh_tracked_fields:
        if isinstance(field(event_model, name), models.GeneratedField):
            continue  # the event table computes it (Postgres refuses a value for it)
        owner = concrete(field(tracked, name).model)
        columns.append(column(event_model, name))
        if owner is concrete(tracked):
            values.append(f"{row}.{quote(column(tracked, name))}")
            continue
        # A multi-table-inheritance parent's column: read it from the parent table, which
        # shares the primary key value.
        if owner not in joins:
            alias = f"_pgh_parent{len(joins)}"
            joins[owner] = alias
        values.append(f"{joins[owner]}.{quote(column(tracked, name))}")
    join_sql = [
        f"LEFT JOIN {quote(model._meta.db_table)} AS {alias} "
        f"ON {alias}.{quote(column(model, pk(model).name))} = {row}.{quote(pk_column)}"
        for model, alias in joins.items()
    ]
    return columns, values, join_sql


def insert_sql(
    event_model: type[Event],
    row: str,
    from_sql: str,
    where: list[str],
    variables: Values = Values(),
) -> str:
    """``INSERT INTO <event table> … SELECT`` copying ``row`` (a trigger row or table alias)."""
    columns, values, joins = _source(event_model, row, variables)
    if joins and not from_sql:
        from_sql = "FROM (SELECT 1) AS _pgh_one"
    sql = (
        f"INSERT INTO {quote(event_model._meta.db_table)} ({', '.join(map(quote, columns))})\n"
        f"SELECT {', '.join(values)}\n{from_sql}"
    )
    if joins:
        sql += "\n" + "\n".join(joins)
    if where:
        sql += "\nWHERE " + " AND ".join(f"({clause})" for clause in where)
    return sql + ";"


# A statement-level trigger resolves the foreign-key context in its INSERT, as an uncorrelated
# subquery: Postgres evaluates it once, and only when a first row qualifies, so a statement
# that writes no event (a condition no row meets, an UPDATE of no row) leaves no Context row
# behind, as with django-pghistory 3.x's row-level triggers. The function is called in a CTE
# that the subquery reads: a volatile call in the SELECT list itself would keep the planner
# from merging the SELECT into the INSERT, and every event would pass through one more
# projection (a subquery scan: 4-7% of a 20,000-row statement's time).
_LAZY_CONTEXT_CTE = "WITH _pgh_cx AS (SELECT pghistory_core_context_id() AS id)\n"
_LAZY_CONTEXT_ID = Values(context_id="(SELECT _pgh_cx.id FROM _pgh_cx)")


def _context_prelude(event_model: type[Event], *, lazy: bool = False) -> str:
    kind = event_model.pgh_context_kind
    lines = []
    if kind == "fk" and not lazy:
        lines.append("_pgh_ctx_id := pghistory_core_context_id();")
    if kind == "json":
        lines.append("_pgh_ctx_meta := pghistory_core_context_json();")
        if event_model.pgh_has_context_id:
            # A denormalised context needs no Context row, only its id.
            lines.append(
                f"_pgh_ctx_id := NULLIF(current_setting('{CONTEXT_ID_SETTING}', true), '')::uuid;"
            )
    return "\n".join(lines)


def _declare(label: str) -> list[tuple[str, str]]:
    return [
        ("_pgh_label", f"TEXT := {literal(label)}"),
        ("_pgh_ctx_id", "UUID"),
        ("_pgh_ctx_meta", "JSONB"),
    ]


class EventTrigger(pgtrigger.Trigger):
    """A trigger writing events of one operation into an event model's table."""

    when = pgtrigger.After

    def __init__(
        self,
        *,
        name: str,
        event_model: type[Event],
        label: str,
        operation: str,
        row: str,
        level: pgtrigger.Level,
        condition_sql: str | None,
        pk_change_setting: str | None = None,
        pk_change_only: bool = False,
    ) -> None:
        self.event_model = event_model
        self.label = label
        self.op = operation
        self.row = row
        self.condition_sql = condition_sql
        self.pk_change_setting = pk_change_setting
        self.pk_change_only = pk_change_only
        statement = level == pgtrigger.Statement and not pk_change_only
        referencing = None
        if statement:
            referencing = pgtrigger.Referencing(  # type: ignore[no-untyped-call]
                old=_OLD_ROWS if operation in ("UPDATE", "DELETE") else None,
                new=_NEW_ROWS if operation in ("UPDATE", "INSERT") else None,
            )
        condition = None
        trigger_operation = getattr(pgtrigger, operation.capitalize())
        if pk_change_only:
            # Only the primary key in WHEN: Postgres refuses to change the type of a column a
            # WHEN clause uses, and django-pgtrigger's workaround (drop and re-create) loses the
            # trigger's hash comment. The tracker's condition is checked in the body instead.
            pk_sql = quote(_pk_column(event_model))
            condition = pgtrigger.Condition(f"(OLD.{pk_sql} IS DISTINCT FROM NEW.{pk_sql})")
            # UPDATE OF: Postgres skips the trigger, WHEN included, for every UPDATE that does
            # not assign the key (save() never does, update() only when told to change it), so
            # row-at-a-time writers stop paying for a WHEN on every row. A key changed by a
            # BEFORE trigger alone is not seen (README, "How the triggers work").
            pk_column = _pk_column(event_model)
            trigger_operation = pgtrigger.UpdateOf(pk_column)  # type: ignore[no-untyped-call]
        elif not statement and condition_sql:
            condition = pgtrigger.Condition(f"(({condition_sql}))")
        super().__init__(
            name=name,
            level=pgtrigger.Statement if statement else pgtrigger.Row,
            operation=trigger_operation,
            referencing=referencing,
            condition=condition,
            declare=_declare(label),
        )

    def get_func(self, model: Any) -> str:
        if self.level == pgtrigger.Row:
            return self._row_func(_context_prelude(self.event_model))
        return self._statement_func(_context_prelude(self.event_model, lazy=True))

    def _records_key_changes(self) -> bool:
        """Whether this trigger links an event under a changed primary key to the old key.

        Row-level UPDATE triggers that store the NEW row, whose event belongs to the new key.
        """
        return (
            self.op == "UPDATE"
            and self.level == pgtrigger.Row
            and self.row == "NEW"
            and self.event_model.pgh_has_obj
        )

    def _key_change_sql(self, insert: str) -> str:
        """``insert`` returning the event's id, then a ``KeyChange`` row if the key changed."""
        pk_sql = quote(_pk_column(self.event_model))
        record = (
            f"INSERT INTO {quote(KEY_CHANGE_TABLE)} "
            '("event_model", "pgh_id", "old_obj_id", "new_obj_id")\n'
            f"VALUES ({literal(self.event_model._meta.label)}, _pgh_event_id, "
            f"OLD.{pk_sql}::text, NEW.{pk_sql}::text);"
        )
        returning = f"{insert[:-1]}\nRETURNING {quote('pgh_id')} INTO _pgh_event_id;"
        if self.pk_change_only:
            return f"{returning}\n{record}"
        return (
            f"{returning}\nIF OLD.{pk_sql} IS DISTINCT FROM NEW.{pk_sql} THEN\n  {record}\nEND IF;"
        )

    def _row_func(self, prelude: str) -> str:
        insert = insert_sql(self.event_model, self.row, "", [])
        if self._records_key_changes():
            insert = self._key_change_sql(insert)
        if self.pk_change_only and self.condition_sql:
            prelude = (
                f"IF ({self.condition_sql}) IS NOT TRUE THEN\n  RETURN NULL;\nEND IF;\n{prelude}"
            )
        if self.pk_change_only:
            setting = literal(str(self.pk_change_setting))
            pk_sql = quote(_pk_column(self.event_model))
            insert += (
                f"\nPERFORM set_config({setting}, (COALESCE(NULLIF("
                f"current_setting({setting}, true), ''), '[]')::jsonb"
                f" || to_jsonb(NEW.{pk_sql}::text))::text, true);"
            )
        return f"{prelude}\n{insert}\nRETURN NULL;"

    def _statement_func(self, prelude: str) -> str:
        pk_sql = quote(_pk_column(self.event_model))
        where = []
        if self.condition_sql:
            where.append(for_transition_tables(self.condition_sql, _OLD, _NEW))
        if self.op == "INSERT":
            from_sql = f"FROM {_NEW_ROWS} AS {_NEW}"
        elif self.op == "DELETE":
            from_sql = f"FROM {_OLD_ROWS} AS {_OLD}"
        else:
            from_sql = f"FROM {_NEW_ROWS} AS {_NEW} JOIN {_OLD_ROWS} AS {_OLD} ON {_OLD}.{pk_sql} = {_NEW}.{pk_sql}"
        row = _OLD if self.row == "OLD" else _NEW
        body = [prelude] if prelude else []
        if self.op == "UPDATE":
            setting = literal(str(self.pk_change_setting))
            body.append(
                f"_pgh_skip := NULLIF(current_setting({setting}, true), '');\n"
                f"IF _pgh_skip IS NOT NULL THEN\n"
                f"  PERFORM set_config({setting}, '', true);\n"
                f"END IF;"
            )
            where.append(
                f"_pgh_skip IS NULL OR NOT ({_NEW}.{pk_sql}::text IN "
                f"(SELECT jsonb_array_elements_text(_pgh_skip::jsonb)))"
            )
        lazy = self.event_model.pgh_context_kind == "fk"
        variables = _LAZY_CONTEXT_ID if lazy else Values()
        insert = insert_sql(self.event_model, row, from_sql, where, variables)
        body.append(f"{_LAZY_CONTEXT_CTE}{insert}" if lazy else insert)
        body.append("RETURN NULL;")
        return "\n".join(body)

    def compile(self, model: Any) -> compiler.Trigger:
        compiled = super().compile(model)
        template: type[EventTriggerSql] = EventTriggerSql
        if self.level == pgtrigger.Statement:
            if self.op == "UPDATE":
                template = GenericPlanHashJoinEventTriggerSql
            elif not _source(self.event_model, _NEW, Values())[2]:
                # With a parent-table join a generic plan would be a nested loop or a hash join
                # depending on the first statement's size: custom plans stay.
                template = GenericPlanEventTriggerSql
        return compiler.Trigger(name=compiled.name, sql=template(**compiled.sql.kwargs))

    def get_declare(self, model: Any) -> list[tuple[str, str]]:
        declare = list(super().get_declare(model))
        if self._records_key_changes():
            declare.append(("_pgh_event_id", "BIGINT"))
        if self.op == "UPDATE" and self.level == pgtrigger.Statement:
            declare.append(("_pgh_skip", "TEXT"))
        return declare


def _condition_sql(tracker: RowEvent, event_model: type[Event], operation: str) -> str | None:
    condition = tracker.condition
    if condition is None:
        return None
    tracked = event_model.pgh_tracked_model
    if isinstance(condition, Condition):
        sql = condition.resolve(tracked, event_model.pgh_tracked_fields)
    elif isinstance(condition, pgtrigger.Condition):
        # django-pgtrigger's own conditions, as django-pghistory 3.x code passes them: a change
        # condition without fields compares the tracked fields, as 3.x does.
        if isinstance(condition, pgtrigger.core._Change) and not condition.fields:
            condition = copy.copy(condition)
            condition.fields = [
                name
                for name in event_model.pgh_tracked_fields
                if concrete(field(tracked, name).model) is concrete(tracked)
            ]
        sql = condition.resolve(tracked)
    else:
        raise TypeError(
            f"{event_model.__name__}: tracker {tracker.label!r} has condition {condition!r}; "
            "use pghistory_core conditions (AnyChange, Q, Condition, ...)."
        )
    allowed = {"INSERT": {"NEW"}, "DELETE": {"OLD"}, "UPDATE": {"OLD", "NEW"}}[operation]
    if operation != "UPDATE" and "OLD" in references(sql) and "NEW" in references(sql):
        # AnyChange() and friends compare OLD with NEW: meaningless outside updates.
        return None
    bad = references(sql) - allowed
    if bad:
        raise ValueError(
            f"{event_model.__name__}: the condition of tracker {tracker.label!r} uses "
            f"{', '.join(sorted(bad))}, which a {operation} trigger does not have."
        )
    return sql


def triggers_for(tracker: RowEvent, event_model: type[Event]) -> list[EventTrigger]:
    """The triggers implementing ``tracker`` for ``event_model``."""
    level = tracker.level or event_model.pgh_level or config.level()
    if level not in (pgtrigger.Row, pgtrigger.Statement):
        raise ValueError(
            f"{event_model.__name__}: level must be pgtrigger.Row or pgtrigger.Statement."
        )
    host = trigger_model(event_model)
    existing = {trigger.name for trigger in getattr(host._meta, "triggers", [])}
    base = tracker.trigger_name or str(tracker.label)
    triggers = []
    for operation in tracker.operations():
        name = _trigger_name(base, operation.lower())
        if name in existing:
            name = _trigger_name(f"{base}_{event_model._meta.model_name}", operation.lower())
        condition_sql = _condition_sql(tracker, event_model, operation)
        kwargs: dict[str, Any] = {
            "event_model": event_model,
            "label": str(tracker.label),
            "operation": operation,
            "row": tracker.row_for(operation),
            "condition_sql": condition_sql,
        }
        if operation == "UPDATE" and level == pgtrigger.Statement:
            digest = hashlib.sha1(
                f"{event_model._meta.label}:{name}".encode(), usedforsecurity=False
            ).hexdigest()[:10]
            kwargs["pk_change_setting"] = f"pghistory_core.pk_changed_{digest}"
            triggers.append(
                EventTrigger(
                    name=_trigger_name(name, "pk"),
                    level=pgtrigger.Row,
                    pk_change_only=True,
                    **kwargs,
                )
            )
        triggers.append(EventTrigger(name=name, level=level, **kwargs))
    return triggers
