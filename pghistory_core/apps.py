"""App configuration: the checks, signal receivers and command wrapper are installed here.

Most receivers are connected in ``ready()``: the context functions on each new connection
(``connection_created``), the sequence before and the functions after ``migrate``. One is not:
``event_model`` connects its ``class_prepared`` receiver when it is imported, since event
models are prepared while the apps' models load, before any ``ready()`` runs.
"""

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
