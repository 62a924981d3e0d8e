"""Settings of the admin, read when used (never at import) so ``override_settings`` works."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from django.conf import settings

#: Field-name patterns masked in diffs unless ``PGHISTORY_ADMIN_SECRET_FIELDS`` says otherwise.
DEFAULT_SECRET_FIELDS: tuple[str, ...] = (
    "password",
    "*password*",
    "*secret*",
    "*token*",
    "*api_key*",
)


def _get(name: str, default: Any) -> Any:
    return getattr(settings, f"PGHISTORY_ADMIN_{name}", default)


def read_database() -> str | None:
    """``PGHISTORY_ADMIN_DATABASE``: the alias (e.g. a replica) the history pages and exports read.

    ``None`` (the default) leaves the choice to the database routers. Reverts always read and
    write through the primary, so a replica's lag cannot revert to a stale row.
    """
    value = _get("DATABASE", None)
    return str(value) if value else None


def secret_fields() -> Sequence[str]:
    """``PGHISTORY_ADMIN_SECRET_FIELDS``: field names or ``fnmatch`` patterns shown masked.

    A pattern matches a field name (``"*token*"``) or a qualified ``"app_label.model.field"``
    (``"auth.user.email"``), case-insensitively. Setting it replaces the defaults; extend
    ``DEFAULT_SECRET_FIELDS`` to keep them.
    """
    return tuple(_get("SECRET_FIELDS", DEFAULT_SECRET_FIELDS))


def is_secret_context_key(key: str) -> bool:
    """Whether a context metadata key matches ``PGHISTORY_ADMIN_SECRET_FIELDS`` (by name).

    Its values are masked like secret fields, and it cannot be filtered on (a filter would
    tell whether a guessed value is right).
    """
    name = key.lower()
    return any(fnmatchcase(name, pattern.lower()) for pattern in secret_fields())
