from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _


class PghistoryAdminConfig(AppConfig):
    name = "pghistory_admin"
    label = "pghistory_admin"
    verbose_name = _("History")

    def import_models(self) -> None:
        # The audit log's model is a proxy of pghistory_core's: without that app, Django would
        # stop with an error about pghistory_core.models.Context before any check could run.
        if not apps.is_installed("pghistory_core"):
            raise ImproperlyConfigured(
                "pghistory_admin needs 'pghistory_core' (and 'pgtrigger') in INSTALLED_APPS."
            )
        super().import_models()

    def ready(self) -> None:
        from pghistory_admin import checks

        checks.register()
