"""System checks: every app and middleware the history pages need, reported with the fix.

Without them the pages fail late (a ``TemplateSyntaxError`` when the audit log renders, or htmx
requests silently answered with whole pages); ``manage.py check`` names them at startup instead.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

__all__ = ["check_installed_apps", "check_middleware", "register"]

#: Apps the history pages need, and what each is for (the hint of its error).
REQUIRED_APPS: dict[str, str] = {
    "django.contrib.admin": "The history pages are admin pages.",
    "django_filters": "It builds the audit log's filter form (django-filter).",
    "django_tables2": "It renders the audit log's table (django-tables2).",
    "django_htmx": "It lets filters and pages swap the table without a reload (django-htmx).",
    "pgtrigger": "It installs the triggers that record history (django-pgtrigger).",
    "pghistory_core": "It records the history that these pages show.",
}

HTMX_MIDDLEWARE = "django_htmx.middleware.HtmxMiddleware"
HISTORY_MIDDLEWARE = "pghistory_core.middleware.HistoryMiddleware"


def check_installed_apps(**kwargs: Any) -> list[checks.CheckMessage]:
    """One error per required app missing from ``INSTALLED_APPS``."""
    errors: list[checks.CheckMessage] = []
    for app, purpose in REQUIRED_APPS.items():
        if app == "pgtrigger" and apps.is_installed("pghistory_core"):
            continue  # pghistory_core.E001 reports it already.
        if not apps.is_installed(app):
            errors.append(
                checks.Error(
                    f"pghistory_admin needs {app!r} in INSTALLED_APPS.",
                    hint=f"Add {app!r} to INSTALLED_APPS. {purpose}",
                    id="pghistory_admin.E001",
                )
            )
    return errors


def check_middleware(**kwargs: Any) -> list[checks.CheckMessage]:
    """``HtmxMiddleware`` is required, ``HistoryMiddleware`` recommended (subclasses count)."""
    messages: list[checks.CheckMessage] = []
    if not _has_middleware(HTMX_MIDDLEWARE):
        messages.append(
            checks.Error(
                f"pghistory_admin needs {HTMX_MIDDLEWARE!r} in MIDDLEWARE.",
                hint=(
                    f"Add {HTMX_MIDDLEWARE!r} to MIDDLEWARE. Without it, changing a filter or a "
                    "page of the audit log loads a whole page into the table."
                ),
                id="pghistory_admin.E002",
            )
        )
    if not _has_middleware(HISTORY_MIDDLEWARE):
        messages.append(
            checks.Warning(
                f"{HISTORY_MIDDLEWARE!r} is not in MIDDLEWARE: changes made through requests "
                "are recorded without the user and the URL.",
                hint=(
                    f"Add {HISTORY_MIDDLEWARE!r} to MIDDLEWARE after AuthenticationMiddleware, "
                    "so the audit log can show and filter by who made each change."
                ),
                id="pghistory_admin.W001",
            )
        )
    return messages


def _has_middleware(path: str) -> bool:
    """Whether ``MIDDLEWARE`` holds ``path`` or a subclass of it."""
    entries = list(getattr(settings, "MIDDLEWARE", None) or [])
    if path in entries:
        return True
    try:
        wanted = import_string(path)
    except ImportError:
        return False
    for entry in entries:
        try:
            middleware = import_string(entry)
        except ImportError:
            continue  # Django's own checks and the handler report it.
        if isinstance(middleware, type) and issubclass(middleware, wanted):
            return True
    return False


def register() -> None:
    """Register the checks (called from ``AppConfig.ready``)."""
    checks.register(check_installed_apps)
    checks.register(check_middleware)
