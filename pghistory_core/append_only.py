"""The explicit bypass of append-only protection, used for pruning.

The triggers honour it only for the owner of the event table, a member of the owner's role, or
a superuser (``trigger_sql.OWNER_MAY_IGNORE``): the roles that could disable them anyway.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pgtrigger
from django.db import connections, router

from pghistory_core.registry import event_models as all_event_models
from pghistory_core.runtime import context

# The pgtrigger names of the protection installed by ``track(append_only=True)``.
APPEND_ONLY_TRIGGERS = ("append_only", "append_only_truncate")


class BypassRefused(PermissionError):
    """The database role in use may not lift the append-only protection of a table."""


# The same test as the triggers' (OWNER_MAY_IGNORE), asked up front for a clear error.
_NOT_OWNED_SQL = """
SELECT c.relname FROM pg_class AS c
WHERE c.oid = ANY(SELECT to_regclass(name) FROM unnest(%s::text[]) AS name)
AND NOT (pg_has_role(current_user, c.relowner, 'USAGE')
         AND pg_has_role(session_user, c.relowner, 'MEMBER'))
ORDER BY c.relname
"""


def check_owner(models: list[Any], databases: list[str] | None = None) -> None:
    """Raise ``BypassRefused`` unless the role in use may bypass the tables of ``models``."""
    tables = ['"' + m._meta.db_table.replace('"', '""') + '"' for m in models]
    for alias in databases or sorted({router.db_for_write(m) for m in models}):
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        with connection.cursor() as cursor:
            cursor.execute(_NOT_OWNED_SQL, [tables])
            refused = [row[0] for row in cursor.fetchall()]
            if refused:
                cursor.execute("SELECT current_user::text, session_user::text")
                current, session = cursor.fetchone()
                raise BypassRefused(
                    f"Role {current!r} (logged in as {session!r}) on database {alias!r} does not "
                    f"own {', '.join(refused)}: only the owner of an event table, a member of "
                    "its role or a superuser can lift its append-only protection."
                )


@contextlib.contextmanager
def bypass(*event_models: Any, databases: list[str] | None = None) -> Iterator[None]:
    """Lift the ``append_only`` protection of ``event_models`` (all when none are given)."""
    models = list(event_models) or [
        m for m in all_event_models() if getattr(m, "pgh_append_only", False)
    ]
    uris = [
        f"{model._meta.label}:{name}"
        for model in models
        if getattr(model, "pgh_append_only", False)
        for name in APPEND_ONLY_TRIGGERS
    ]
    if not uris:
        raise ValueError("None of these event models is append-only.")
    check_owner([m for m in models if getattr(m, "pgh_append_only", False)], databases)
    with context(pgh_bypass_append_only=sorted(uris)), pgtrigger.ignore(*uris, databases=databases):
        yield
