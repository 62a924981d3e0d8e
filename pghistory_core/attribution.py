"""Attribution of writes made outside Django: the database session recorded as the context.

A write from ``psql``, another service or a cron job opens no ``context()``. The context
functions then record the session itself: its login role (``session_user``), its
``application_name`` and, unless switched off, its client address. ``session_user`` is set by
the server at login and no ``SET`` changes it (only a superuser's ``SET SESSION AUTHORIZATION``
does); ``application_name`` is chosen by the client and proves nothing.

This module has the SQL that builds and checks these keys; ``sql`` bakes it into the context
functions and ``guards.AttributionGuard`` into the ``Context`` table's trigger.
"""

from __future__ import annotations

from typing import Any, TypeGuard

__all__ = [
    "APPLICATION_NAME",
    "CLIENT_ADDR",
    "DB_ROLE",
    "KEYS",
    "claimed_sql",
    "is_database_session",
    "metadata_sql",
]

#: The login role of the session (``session_user``).
DB_ROLE = "db_role"
#: The ``application_name`` the client connected with (``psql``, ``pg_dump``, …; client-chosen).
APPLICATION_NAME = "application_name"
#: The client's IP address, or ``local`` for a Unix-domain socket.
CLIENT_ADDR = "client_addr"
#: Metadata keys only the database writes: a context claiming other values is refused.
KEYS = (DB_ROLE, APPLICATION_NAME, CLIENT_ADDR)

_VALUES = {
    DB_ROLE: "SESSION_USER::text",
    APPLICATION_NAME: "pg_catalog.current_setting('application_name')",
    CLIENT_ADDR: "COALESCE(pg_catalog.host(pg_catalog.inet_client_addr()), 'local')",
}
_KEYS_ARRAY = "ARRAY[" + ", ".join(f"'{key}'" for key in KEYS) + "]::text[]"


def metadata_sql(client_addr: bool = True) -> str:
    """SQL of the session's attribution (``jsonb``): role, application name, client address."""
    keys = [key for key in KEYS if client_addr or key != CLIENT_ADDR]
    pairs = ", ".join(f"'{key}', {_VALUES[key]}" for key in keys)
    return f"pg_catalog.jsonb_build_object({pairs})"


def claimed_sql(metadata: str, old: str | None = None) -> str:
    """SQL that is true when ``metadata`` (``jsonb``) claims a session it was not written in.

    A key of ``KEYS`` must hold the session's own value. With ``old`` (the recorded metadata),
    only keys whose value differs from it are checked: a context keeps what it recorded.
    """
    claims = []
    for key in KEYS:
        value = f"({metadata} OPERATOR(pg_catalog.->) '{key}')"
        claim = (
            f"({metadata} OPERATOR(pg_catalog.?) '{key}' "
            f"AND {value} IS DISTINCT FROM pg_catalog.to_jsonb({_VALUES[key]})"
        )
        if old is not None:
            claim += f" AND {value} IS DISTINCT FROM ({old} OPERATOR(pg_catalog.->) '{key}')"
        claims.append(claim + ")")
    return f"(({metadata}) OPERATOR(pg_catalog.?|) {_KEYS_ARRAY} AND ({' OR '.join(claims)}))"


def is_database_session(metadata: object) -> TypeGuard[dict[str, Any]]:
    """Whether a context's metadata records a database session (a write outside Django)."""
    return isinstance(metadata, dict) and isinstance(metadata.get(DB_ROLE), str)
