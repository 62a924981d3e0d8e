"""History pages for the Django admin, built on pghistory_core.

The public names load lazily (``from pghistory_admin import HistoryAdminMixin`` imports the
admin machinery on first use), so importing the package from settings costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pghistory_admin.admin import AuditLogAdmin, HistoryAdminMixin
    from pghistory_admin.models import AuditLog
    from pghistory_admin.permissions import viewable_event_models

__all__ = ["AuditLog", "AuditLogAdmin", "HistoryAdminMixin", "viewable_event_models"]

_LAZY = {
    "AuditLog": "pghistory_admin.models",
    "AuditLogAdmin": "pghistory_admin.admin",
    "HistoryAdminMixin": "pghistory_admin.admin",
    "viewable_event_models": "pghistory_admin.permissions",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pghistory_admin' has no attribute {name!r}")
