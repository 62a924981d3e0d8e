"""``AuditLog``: the admin's handle on the event stream, so the audit log sits on the admin index."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from pghistory_core.models import Events


class AuditLog(Events):
    """A proxy of ``pghistory_core.models.Events``; it adds no table and no permission.

    Registering it with ``AuditLogAdmin`` puts "Audit log" on an admin site's index; who sees
    which events is decided per tracked model (``pghistory_admin.permissions``).
    """

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = _("audit log")
        verbose_name_plural = _("audit log")
