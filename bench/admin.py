"""Admin of the benchmark project, for the admin page timings (only when ``pghistory_admin.admin`` works)."""

from __future__ import annotations

from django.contrib import admin

from bench.models import CoreCustomer, CoreItem, CoreOrder


def register() -> str | None:
    """Register the tracked models on ``admin.site``; return why the admin cannot be measured."""
    try:
        # Importing it registers the audit log on admin.site.
        from pghistory_admin.admin import HistoryAdminMixin
    except Exception as exc:  # the admin is written alongside: report, do not crash
        return f"pghistory_admin.admin cannot be imported: {exc!r}"
    for model in (CoreItem, CoreCustomer, CoreOrder):
        if not admin.site.is_registered(model):
            model_admin = type(f"{model.__name__}Admin", (HistoryAdminMixin, admin.ModelAdmin), {})
            admin.site.register(model, model_admin)
    return None
