"""App configuration: signal receivers and checks are connected here, never at import."""

from __future__ import annotations

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate, pre_migrate


class PghistoryCoreConfig(AppConfig):
    name = "pghistory_core"
    label = "pghistory_core"
    verbose_name = "History tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pghistory_core import autodetector, checks, commands, runtime, sql

        checks.register()
        connection_created.connect(
            runtime.install_on_connection_created, dispatch_uid="pghistory_core_context"
        )
        runtime.install_on_open_connections()
        pre_migrate.connect(sql.pre_migrate, sender=self, dispatch_uid="pghistory_core_sequence")
        post_migrate.connect(sql.post_migrate, sender=self, dispatch_uid="pghistory_core_functions")
        commands.install()
        autodetector.install()
