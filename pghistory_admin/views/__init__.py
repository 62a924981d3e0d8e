"""The history pages: audit log, event diff, per-object timeline, compare, revert, blame, as of a moment, exports.

Views are class-based with ``get_*`` hooks to override. They are built from an ``AdminSite``
(``admin_site``) and, for per-object pages, a ``ModelAdmin`` (``model_admin``), passed to
``as_view()`` by ``pghistory_admin.urls``. A request made by htmx (``request.htmx``, except
history restores) gets the page's partial template alone; any other request the full page.
"""

from pghistory_admin.views.as_of import AsOfForm, AsOfView
from pghistory_admin.views.audit_log import (
    AuditLogExportView,
    AuditLogMixin,
    AuditLogView,
    EventDiffView,
)
from pghistory_admin.views.base import AdminPageMixin, PageMixin
from pghistory_admin.views.blame import BlameView
from pghistory_admin.views.compare import CompareForm, CompareView
from pghistory_admin.views.objects import ObjectHistoryExportView, ObjectHistoryView, ObjectMixin
from pghistory_admin.views.revert import RevertView

__all__ = [
    "AdminPageMixin",
    "AsOfForm",
    "AsOfView",
    "AuditLogExportView",
    "AuditLogMixin",
    "AuditLogView",
    "BlameView",
    "CompareForm",
    "CompareView",
    "EventDiffView",
    "ObjectHistoryExportView",
    "ObjectHistoryView",
    "ObjectMixin",
    "PageMixin",
    "RevertView",
]
