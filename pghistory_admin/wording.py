"""The words the pages use for an event: what it did and where it came from.

Its action (``insert`` → "created"), the URL or management command that made it, and for a
write made outside Django, what its database session recorded. The audit log's filters, its
rows and the CSV export all say it the same way.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pghistory_core import attribution

__all__ = ["ACTIONS", "action_label", "session_label", "session_note", "source_of"]

#: Display names of the labels of the built-in trackers; other labels show as they are.
ACTIONS = {
    "insert": gettext_lazy("created"),
    "update": gettext_lazy("updated"),
    "delete": gettext_lazy("deleted"),
}


def action_label(label: str) -> str:
    """``insert`` → "created", …; manual and custom labels unchanged."""
    return str(ACTIONS.get(label, label))


def source_of(metadata: dict[str, Any] | None) -> str:
    """The URL or management command that made a change, from its context metadata (for a
    write made outside Django, the client address of its database session, if recorded)."""
    if not metadata:
        return ""
    if metadata.get("url"):
        return str(metadata["url"])
    if metadata.get("command"):
        args = metadata.get("command_args") or []
        parts = [str(metadata["command"]), *(str(arg) for arg in args if isinstance(args, list))]
        return " ".join(parts)
    if attribution.is_database_session(metadata) and metadata.get(attribution.CLIENT_ADDR):
        return str(metadata[attribution.CLIENT_ADDR])
    return ""


def session_label(metadata: dict[str, Any] | None) -> str:
    """Who made a write outside Django: "via psql as role etl" ("" for other contexts)."""
    if not attribution.is_database_session(metadata):
        return ""
    role = str(metadata[attribution.DB_ROLE])
    application = metadata.get(attribution.APPLICATION_NAME)
    if application:
        return _("via %(application)s as role %(role)s") % {
            "application": application,
            "role": role,
        }
    return _("as role %(role)s") % {"role": role}


def session_note(metadata: dict[str, Any] | None) -> str:
    """What the database recorded of a write made outside Django, and what it proves."""
    if not attribution.is_database_session(metadata):
        return ""
    note = _(
        "Written outside Django by database role %(role)s. The role is the login of the "
        "session; the application name is chosen by the client and proves nothing."
    ) % {"role": metadata[attribution.DB_ROLE]}
    address = metadata.get(attribution.CLIENT_ADDR)
    if address:
        note += " " + _("Client address: %(address)s.") % {"address": address}
    return note
