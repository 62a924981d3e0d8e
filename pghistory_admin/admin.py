"""Admin integration: ``HistoryAdminMixin`` for tracked models, ``AuditLogAdmin`` for the log.

Wiring (default site)::

    INSTALLED_APPS = [..., "django_filters", "django_tables2", "django_htmx",
                      "pgtrigger", "pghistory_core", "pghistory_admin"]
    MIDDLEWARE = [..., "django_htmx.middleware.HtmxMiddleware",
                  "pghistory_core.middleware.HistoryMiddleware"]

    @admin.register(Book)
    class BookAdmin(HistoryAdminMixin, admin.ModelAdmin): ...

The audit log registers itself on ``django.contrib.admin.site`` (admin autodiscovery imports
this module). On a custom ``AdminSite``, register it yourself; every URL is then built from that
site (``site.get_urls()``), nothing goes in ``urls.py``::

    site.register(AuditLog, AuditLogAdmin)
    site.register(Book, BookAdmin)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.loader import select_template
from django.urls import URLPattern
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from pghistory_admin.links import AdminLinks
from pghistory_admin.models import AuditLog
from pghistory_admin.permissions import viewable_event_models
from pghistory_admin.urls import audit_log_urls, object_history_urls
from pghistory_admin.views import (
    AsOfView,
    AuditLogExportView,
    AuditLogView,
    BlameView,
    CompareView,
    EventDiffView,
    ObjectHistoryExportView,
    ObjectHistoryView,
    RevertView,
)

__all__ = ["AuditLogAdmin", "HistoryAdminMixin"]

if TYPE_CHECKING:
    # What the classes extend for the type checker: the mixin is used with a ``ModelAdmin``.
    _ModelAdmin = admin.ModelAdmin[Any]
    _AuditLogModelAdmin = admin.ModelAdmin[AuditLog]
else:
    _ModelAdmin = object
    _AuditLogModelAdmin = admin.ModelAdmin


class HistoryAdminMixin(_ModelAdmin):
    """Make a ``ModelAdmin``'s History button open the object's change timeline.

    ``history_view`` keeps its signature, URL name (``<app>_<model>_history``) and permission
    check (``has_view_or_change_permission``), and also serves deleted objects. The change list
    gains a "History" link to the audit log filtered on the model; ``history_link`` can go in
    ``list_display`` for a link per row. Swap the view classes to customise the pages.

    The other pages recognise such an admin by its ``pghistory_admin = True`` attribute (duck
    typing: ``AdminLinks.has_history_admin``), not by its class, and then link to its timelines.
    """

    #: Marks a ``ModelAdmin`` that serves the history pages (see ``AdminLinks.has_history_admin``).
    pghistory_admin: ClassVar[bool] = True

    history_view_class: type[ObjectHistoryView] = ObjectHistoryView
    history_compare_view_class: type[CompareView] = CompareView
    history_export_view_class: type[ObjectHistoryExportView] = ObjectHistoryExportView
    history_revert_view_class: type[RevertView] = RevertView
    history_blame_view_class: type[BlameView] = BlameView
    history_as_of_view_class: type[AsOfView] = AsOfView
    change_list_template = "pghistory_admin/change_list.html"

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        view = self.history_view_class.as_view(
            model_admin=self, admin_site=self.admin_site, extra_context=extra_context
        )
        return view(request, object_id=object_id)

    def get_urls(self) -> list[URLPattern]:
        # Before the admin's own patterns: "<path:object_id>/" would catch them.
        return object_history_urls(self) + super().get_urls()

    def _change_list_parent(self) -> str:
        opts = self.model._meta
        names = [
            f"admin/{opts.app_label}/{opts.model_name}/change_list.html",
            f"admin/{opts.app_label}/change_list.html",
            "admin/change_list.html",
        ]
        return select_template(names).template.name

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        links = AdminLinks(self.admin_site, request)
        context = {
            "pgh_change_list_parent": self._change_list_parent(),
            "pgh_history_url": links.audit_log(model=self.model._meta.label_lower),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    @admin.display(description=_("History"))
    def history_link(self, obj: Any) -> SafeString:
        """A list_display column linking each row to its timeline."""
        url = AdminLinks(self.admin_site, None).history(self.model, obj.pk)
        return format_html('<a href="{}">{}</a>', url, _("History")) if url else format_html("")


class AuditLogAdmin(_AuditLogModelAdmin):
    """The "Audit log" entry of the admin index: every event the user may view.

    Shown to staff users holding the view or change permission on at least one tracked model;
    read-only. Its URLs: the log (``…_auditlog_changelist``), CSV export (``…_auditlog_export``)
    and an event's diff (``…_auditlog_diff``).
    """

    audit_log_view_class: type[AuditLogView] = AuditLogView
    export_view_class: type[AuditLogExportView] = AuditLogExportView
    diff_view_class: type[EventDiffView] = EventDiffView

    def get_urls(self) -> list[URLPattern]:
        return audit_log_urls(self)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(viewable_event_models(request.user))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        view = self.audit_log_view_class.as_view(admin_site=self.admin_site)
        return view(request)


admin.site.register(AuditLog, AuditLogAdmin)
