"""Compatibility alias of django-pghistory 3.x's private module ``pghistory.core``.

3.x declared its trackers and factories in ``pghistory.core`` and re-exported them from
``pghistory``; code and tests written for 3.x sometimes import them from there
(``from pghistory.core import create_event_model``, ``import pghistory.core``). After the rename
those imports read ``pghistory_core.core``: this module re-exports the same public objects as
the package's top level (it defines nothing), and 3.x's private helper ``_pascalcase``. New code
should import from ``pghistory_core``.
"""

from __future__ import annotations

from pghistory_core import (
    DEFAULT,
    ContextForeignKey,
    ContextJSONField,
    ContextUUIDField,
    DeleteEvent,
    Field,
    ForeignKey,
    InsertEvent,
    ManualEvent,
    ObjForeignKey,
    ProxyField,
    RelatedField,
    RowEvent,
    Tracker,
    UpdateEvent,
    config,
    constants,
    create_event,
    create_event_model,
    runtime,
    track,
    trigger,
    utils,
)
from pghistory_core.event_model import _pascalcase
from pghistory_core.registry import event_models

__all__ = [
    "DEFAULT",
    "ContextForeignKey",
    "ContextJSONField",
    "ContextUUIDField",
    "DeleteEvent",
    "Field",
    "ForeignKey",
    "InsertEvent",
    "ManualEvent",
    "ObjForeignKey",
    "ProxyField",
    "RelatedField",
    "RowEvent",
    "Tracker",
    "UpdateEvent",
    "_pascalcase",
    "config",
    "constants",
    "create_event",
    "create_event_model",
    "event_models",
    "runtime",
    "track",
    "trigger",
    "utils",
]
