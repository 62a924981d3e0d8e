"""Settings of the admin, read when used (never at import) so ``override_settings`` works."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

#: Field-name patterns masked in diffs unless ``PGHISTORY_ADMIN_SECRET_FIELDS`` says otherwise.
DEFAULT_SECRET_FIELDS: tuple[str, ...] = (
    "password",
    "*password*",
    "*secret*",
    "*token*",
    "*api_key*",
)


#: What a secret value (``is_secret_field``, ``is_secret_context_key``) shows instead of itself.
MASK = "••••••"


def _get(name: str, default: Any) -> Any:
    return getattr(settings, f"PGHISTORY_ADMIN_{name}", default)


def read_database() -> str | None:
    """``PGHISTORY_ADMIN_DATABASE``: the alias (e.g. a replica) the history pages and exports read.

    ``None`` (the default) leaves the choice to the database routers. Reverts always read and
    write through the primary, so a replica's lag cannot revert to a stale row.
    """
    value = _get("DATABASE", None)
    return str(value) if value else None


def page_size() -> int:
    """``PGHISTORY_ADMIN_PAGE_SIZE``: events per page of the history pages (default 50, at
    most 500)."""
    value = _get("PAGE_SIZE", 50)
    return max(1, min(int(value), 500))


def secret_fields() -> Sequence[str]:
    """``PGHISTORY_ADMIN_SECRET_FIELDS``: field names or ``fnmatch`` patterns shown masked.

    A pattern matches a field name (``"*token*"``) or a qualified ``"app_label.model.field"``
    (``"auth.user.email"``), case-insensitively. Setting it replaces the defaults; extend
    ``DEFAULT_SECRET_FIELDS`` to keep them.
    """
    return tuple(_get("SECRET_FIELDS", DEFAULT_SECRET_FIELDS))


def is_secret_field(
    model: type[models.Model], key: str, field: models.Field[Any, Any] | None = None
) -> bool:
    """Whether ``PGHISTORY_ADMIN_SECRET_FIELDS`` masks a field of ``model``.

    ``key`` is how the history records the field (its attribute name, ``owner_id``); ``field``,
    when the model still has it, adds its name (``owner``). A pattern matches either name or
    ``app_label.model.name``, case-insensitively. Diffs, the revert preview and the CSV export
    mask what this says.
    """
    names = (key,) if field is None else (key, field.name)
    # The setting is read on every call; the matching is cached for its value.
    return _matches_secret(model._meta.label_lower, names, tuple(secret_fields()))


@functools.lru_cache(maxsize=1024)
def _matches_secret(label: str, names: tuple[str, ...], patterns: tuple[str, ...]) -> bool:
    candidates = {name.lower() for name in names}
    candidates |= {f"{label}.{name}" for name in candidates}
    lowered = [pattern.lower() for pattern in patterns]
    return any(fnmatchcase(name, pattern) for name in candidates for pattern in lowered)


def is_secret_context_key(key: str) -> bool:
    """Whether a context metadata key matches ``PGHISTORY_ADMIN_SECRET_FIELDS`` (by name).

    Its values are masked like secret fields, and it cannot be filtered on (a filter would
    tell whether a guessed value is right).
    """
    name = key.lower()
    return any(fnmatchcase(name, pattern.lower()) for pattern in secret_fields())


#: At most this many context keys can be export columns of their own (Postgres allows about
#: 1,600 columns in a result; each key costs one).
MAX_EXPORT_CONTEXT_COLUMNS = 100


def export_context_columns() -> list[str]:
    """``PGHISTORY_ADMIN_EXPORT_CONTEXT_COLUMNS``: context metadata keys exported as columns.

    Each becomes a ``context.<key>`` column of every export (default: none); every other key
    stays in the ``context`` column's JSON object. At most ``MAX_EXPORT_CONTEXT_COLUMNS``.
    """
    keys = [str(key) for key in _get("EXPORT_CONTEXT_COLUMNS", ())]
    if len(keys) > MAX_EXPORT_CONTEXT_COLUMNS:
        raise ImproperlyConfigured(
            f"PGHISTORY_ADMIN_EXPORT_CONTEXT_COLUMNS names {len(keys)} keys; at most "
            f"{MAX_EXPORT_CONTEXT_COLUMNS} can be columns (the others are in the context column)."
        )
    return list(dict.fromkeys(keys))


def statement_timeout() -> float | None:
    """``PGHISTORY_ADMIN_STATEMENT_TIMEOUT``: seconds any one query of a history page or export
    may run (default 30; ``None`` or 0: no limit beyond the database's own).

    Applied with ``SET LOCAL statement_timeout`` in a transaction around the page, on the
    database the pages read (``PGHISTORY_ADMIN_DATABASE`` or the router's) and the default one.
    """
    value = _get("STATEMENT_TIMEOUT", 30)
    return float(value) if value else None


def field_search_limit() -> int | None:
    """``PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT``: events one request tests for changes of the
    ``field`` filter (default 50,000; ``None`` or 0: no limit, a cost that grows with history).

    Each event costs a lookup of its predecessor: 50,000 events take 0.1 to 0.2 s on the benchmark
    machine (up to a second when it is heavily loaded).
    """
    value = _get("FIELD_SEARCH_LIMIT", 50_000)
    if not value:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(
            f"PGHISTORY_ADMIN_FIELD_SEARCH_LIMIT must be a positive number of events, not {value!r}."
        )
    return value


def export_connections() -> int:
    """``PGHISTORY_ADMIN_EXPORT_CONNECTIONS``: connections of its own an export may open (default 2).

    They read one snapshot in parallel (``export.parallel``). ``0`` runs the export on the
    request's connection instead, one transaction per chunk, as an export inside an atomic block
    always does (other connections cannot see its uncommitted rows).
    """
    value = _get("EXPORT_CONNECTIONS", 2)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(
            f"PGHISTORY_ADMIN_EXPORT_CONNECTIONS must be a whole number of connections (0 or "
            f"more), not {value!r}."
        )
    return value


#: A Postgres memory setting: a number of kilobytes, or a number and a unit.
_MEMORY = re.compile(r"(\d+)\s*(kB|MB|GB|TB)?")
_KILOBYTES = {None: 1, "kB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3}


def export_work_mem() -> str | None:
    """``PGHISTORY_ADMIN_EXPORT_WORK_MEM``: ``work_mem`` of the export's own connections (default
    ``"128MB"``; ``None``: the server's setting).

    Each chunk's ``COPY`` ends with one sort of its formatted rows by ``pgh_id``; in memory it
    costs less than spilled to a temporary file (a chunk of the benchmark's 100,000 events sorts
    in 72 MB). Set only inside the export's transactions (``SET LOCAL``), never on the
    request's connection.
    """
    value = _get("EXPORT_WORK_MEM", "128MB")
    if value is None:
        return None
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    match = _MEMORY.fullmatch(text) if isinstance(text, str) else None
    kilobytes = int(match[1]) * _KILOBYTES[match[2]] if match else 0
    if not 64 <= kilobytes <= 2**31 - 1:
        raise ImproperlyConfigured(
            "PGHISTORY_ADMIN_EXPORT_WORK_MEM must be None or a Postgres memory size from 64kB "
            f"to 2147483647kB, such as '128MB' or 65536 (kilobytes), not {value!r}."
        )
    return text
