from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PghistoryAdminConfig(AppConfig):
    name = "pghistory_admin"
    label = "pghistory_admin"
    verbose_name = _("History")
