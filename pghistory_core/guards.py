"""Triggers that keep recorded history as it was written, whatever role a session holds.

They honour ``pgtrigger.ignore`` (the explicit bypass used for pruning) only for a role that
could disable them anyway, the owner of the table (``trigger_sql.OWNER_MAY_IGNORE``): a setting
any session can set is no check. Each qualifies what it calls with ``pg_catalog``.
"""

from __future__ import annotations

from typing import Any

import pgtrigger
from pgtrigger import compiler

from pghistory_core import attribution
from pghistory_core.trigger_sql import OwnerBypassTriggerSql

__all__ = [
    "CONTEXT_GUARD",
    "AppendOnly",
    "AppendOnlyTruncate",
    "AttributionGuard",
    "ContextGuard",
    "OwnerBypassTrigger",
]

#: The URI of the ``Context`` table's guard, for ``pgtrigger.ignore()`` by the table's owner.
CONTEXT_GUARD = "pghistory_core.Context:context_guard"

_OWNER_ONLY_HINT = (
    "History is append-only. Only the owner of the table (or a member of its role) can lift "
    "this, with pghistory_core.bypass_append_only()."
)


class OwnerBypassTrigger(pgtrigger.Trigger):
    """A trigger that only the owner of its table can ask to step aside."""

    def compile(self, model: Any) -> compiler.Trigger:
        compiled = super().compile(model)
        return compiler.Trigger(
            name=compiled.name, sql=OwnerBypassTriggerSql(**compiled.sql.kwargs)
        )


class AppendOnly(OwnerBypassTrigger):
    """Refuses UPDATE and DELETE of events."""

    when = pgtrigger.Before
    operation = pgtrigger.Update | pgtrigger.Delete
    level = pgtrigger.Row

    def __init__(self) -> None:
        super().__init__(name="append_only")

    def get_func(self, model: Any) -> str:
        return (
            "RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', "
            f"TG_TABLE_NAME USING HINT = '{_OWNER_ONLY_HINT}';"
        )


class AppendOnlyTruncate(OwnerBypassTrigger):
    """Refuses TRUNCATE of a table holding events (TRUNCATE fires statement triggers only).

    An empty table loses nothing, so Django's test flush (TRUNCATE of every table) still works.
    """

    when = pgtrigger.Before
    operation = pgtrigger.Truncate
    level = pgtrigger.Statement
    declare = [("_pgh_found", "BOOLEAN")]

    def __init__(self) -> None:
        super().__init__(name="append_only_truncate")

    def get_func(self, model: Any) -> str:
        return (
            "EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM %I.%I)', TG_TABLE_SCHEMA,"
            " TG_TABLE_NAME) INTO _pgh_found;\n"
            "IF _pgh_found THEN\n"
            "  RAISE EXCEPTION 'pgtrigger: Cannot truncate % table', TG_TABLE_NAME\n"
            f"    USING HINT = '{_OWNER_ONLY_HINT}';\n"
            "END IF;\n"
            "RETURN NULL;"
        )


class ContextGuard(OwnerBypassTrigger):
    """Keeps what a context recorded: no DELETE, and an UPDATE may only add metadata keys.

    Nested ``context()`` blocks add keys to the open context (django-pghistory semantics), so
    adding stays allowed; changing or removing a recorded key would change whom the events
    already written in that context are attributed to.
    """

    when = pgtrigger.Before
    operation = pgtrigger.Update | pgtrigger.Delete
    level = pgtrigger.Row

    def __init__(self) -> None:
        super().__init__(name="context_guard")

    def get_func(self, model: Any) -> str:
        return """
IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
  RAISE EXCEPTION 'pghistory: Cannot delete context %: events are attributed to it', OLD.id
    USING HINT = 'Only the owner of the table can lift this (pgtrigger.ignore).';
END IF;
IF NOT (NEW.id OPERATOR(pg_catalog.=) OLD.id)
   OR NOT (NEW.created_at OPERATOR(pg_catalog.=) OLD.created_at)
   OR EXISTS (
     SELECT FROM pg_catalog.jsonb_each(OLD.metadata) AS _pgh_old
     WHERE NOT COALESCE(
       NEW.metadata OPERATOR(pg_catalog.->) _pgh_old.key OPERATOR(pg_catalog.=) _pgh_old.value,
       false
     )
   ) THEN
  RAISE EXCEPTION 'pghistory: Cannot change what context % recorded', OLD.id
    USING HINT = 'A context can gain metadata keys, never change or lose one.';
END IF;
RETURN NEW;
"""


class AttributionGuard(OwnerBypassTrigger):
    """Refuses a context that claims a database session it was not written in.

    ``attribution.KEYS`` (login role, application name, client address) are recorded by the
    database for writes made outside Django; an application role that may insert contexts
    must not be able to attribute anything to another role this way. Keys already recorded are
    left to ``ContextGuard``.
    """

    when = pgtrigger.Before
    operation = pgtrigger.Insert | pgtrigger.Update
    level = pgtrigger.Row
    declare = [("_pgh_claimed", "BOOLEAN")]

    def __init__(self) -> None:
        super().__init__(name="context_attribution")

    def get_func(self, model: Any) -> str:
        insert = attribution.claimed_sql("NEW.metadata")
        update = attribution.claimed_sql("NEW.metadata", old="OLD.metadata")
        return f"""
IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
  _pgh_claimed := {insert};
ELSE
  _pgh_claimed := {update};
END IF;
IF _pgh_claimed THEN
  RAISE EXCEPTION 'pghistory: Context % claims a database session it was not written in', NEW.id
    USING HINT = 'db_role, application_name and client_addr are recorded by the database.';
END IF;
RETURN NEW;
"""
