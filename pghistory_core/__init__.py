"""Change history for Django models, recorded by Postgres triggers."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import pgtrigger

from pghistory_core.as_of import (
    AsOfDoesNotExist,
    DeletedAt,
    NotRecorded,
    NotYetCreated,
    as_of,
    as_of_many,
    related_as_of,
)
from pghistory_core.blame import blame
from pghistory_core.commands import command_context
from pghistory_core.conditions import (
    AllChange,
    AllDontChange,
    AnyChange,
    AnyDontChange,
    Condition,
    F,
    Q,
)
from pghistory_core.constants import DEFAULT
from pghistory_core.event_model import create_event_model, track
from pghistory_core.fields import (
    ContextForeignKey,
    ContextJSONField,
    ContextUUIDField,
    Field,
    ForeignKey,
    ObjForeignKey,
    ProxyField,
    RelatedField,
)
from pghistory_core.runtime import context
from pghistory_core.trackers import (
    DeleteEvent,
    InsertEvent,
    ManualEvent,
    New,
    Old,
    RowEvent,
    Tracker,
    UpdateEvent,
)

#: Trigger operations and levels, re-exported from django-pgtrigger as django-pghistory 3.x does
#: (``RowEvent(operation=Insert | Update)``, ``track(..., level=Statement)``).
Insert = pgtrigger.Insert
Update = pgtrigger.Update
Delete = pgtrigger.Delete
Row = pgtrigger.Row
Statement = pgtrigger.Statement

try:
    __version__ = metadata.version("pghistory-admin")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "DEFAULT",
    "AllChange",
    "AllDontChange",
    "AnyChange",
    "AnyDontChange",
    "AsOfDoesNotExist",
    "Condition",
    "ContextForeignKey",
    "ContextJSONField",
    "ContextUUIDField",
    "Delete",
    "DeleteEvent",
    "DeletedAt",
    "F",
    "Field",
    "ForeignKey",
    "Insert",
    "InsertEvent",
    "ManualEvent",
    "New",
    "NotRecorded",
    "NotYetCreated",
    "ObjForeignKey",
    "Old",
    "ProxyField",
    "Q",
    "RelatedField",
    "Row",
    "RowEvent",
    "Statement",
    "Tracker",
    "Update",
    "UpdateEvent",
    "__version__",
    "as_of",
    "as_of_many",
    "blame",
    "bypass_append_only",
    "command_context",
    "context",
    "create_event",
    "create_event_model",
    "related_as_of",
    "track",
]


def create_event(obj: Any, *, label: str, using: str | None = None) -> Any:
    """Record a manual event with ``obj``'s current database values (see ``ManualEvent``)."""
    from pghistory_core.revert import create_event as _create_event

    return _create_event(obj, label=label, using=using)


def bypass_append_only(*event_models: Any, databases: list[str] | None = None) -> Any:
    """Allow UPDATE/DELETE on append-only event tables inside a ``with`` block (for pruning).

    The bypass is explicit and recorded: it opens a context with ``pgh_bypass_append_only``.
    Only the owner of the tables (a member of its role, or a superuser) can use it; any other
    role gets ``pghistory_core.append_only.BypassRefused``.
    """
    from pghistory_core.append_only import bypass

    return bypass(*event_models, databases=databases)
