"""App configuration of the 3.x-style events admin."""

from __future__ import annotations

from django.apps import AppConfig


class PghistoryCoreAdminConfig(AppConfig):
    name = "pghistory_core.admin"
    #: Distinct from django.contrib.admin's ``admin`` and pghistory_admin's ``pghistory_admin``.
    label = "pghistory_core_admin"
    verbose_name = "History events admin"

    def ready(self) -> None:
        from django.contrib import admin

        from pghistory_core import config

        model = config.admin_queryset().model
        if not admin.site.is_registered(model):
            admin.site.register(model, config.admin_class())
