"""System checks: misconfigurations reported with the fix, at startup."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks


def check_pgtrigger_installed(**kwargs: Any) -> list[checks.CheckMessage]:
    """Triggers are installed by django-pgtrigger's migration integration."""
    if apps.is_installed("pgtrigger"):
        return []
    return [
        checks.Error(
            # 3.x's sentence first (code written for 3.x matches it), then ours.
            'Add "pgtrigger" to settings.INSTALLED_APPS: pghistory_core needs django-pgtrigger.',
            hint="Without it, event triggers are never installed and no history is recorded.",
            id="pghistory_core.E001",
        )
    ]


def check_postgres(databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every database that holds tracked models must be PostgreSQL."""
    errors: list[checks.CheckMessage] = []
    for alias in databases or []:
        engine = settings.DATABASES.get(alias, {}).get("ENGINE", "")
        if "postgresql" not in engine and "postgis" not in engine:
            errors.append(
                checks.Error(
                    f"Database {alias!r} uses {engine or 'no engine'}; pghistory_core records "
                    "history with PostgreSQL triggers.",
                    hint="Use django.db.backends.postgresql (or a PostGIS/Postgres-compatible backend).",
                    id="pghistory_core.E002",
                )
            )
        elif settings.DATABASES[alias].get("OPTIONS", {}).get("server_side_binding"):
            errors.append(
                checks.Error(
                    f"Database {alias!r} uses psycopg's server-side binding, which cannot send "
                    "the history context with the statement it belongs to.",
                    hint="Remove OPTIONS['server_side_binding'] (Django's default is off).",
                    id="pghistory_core.E003",
                )
            )
    return errors


def register() -> None:
    """Register the checks (called from ``AppConfig.ready``)."""
    checks.register(check_pgtrigger_installed)
    checks.register(check_postgres, checks.Tags.database)
