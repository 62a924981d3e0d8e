"""URL patterns of the history pages, built from a ``ModelAdmin`` and so from its site.

There is nothing to include in a project's ``urls.py``: ``HistoryAdminMixin.get_urls`` adds the
per-object patterns next to the model's admin URLs and ``AuditLogAdmin.get_urls`` the audit
log's, so every page lives under (and is namespaced by) the ``AdminSite`` it is registered on.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import TYPE_CHECKING, Any

from django.contrib.admin import ModelAdmin
from django.urls import URLPattern, path, register_converter
from django.views import View

from pghistory_admin import sessions
from pghistory_admin.converters import EventIdConverter

if TYPE_CHECKING:
    from pghistory_admin.admin import AuditLogAdmin, HistoryAdminMixin

__all__ = ["audit_log_urls", "object_history_urls"]

#: ``<pgh_id:…>``: an event id in the ``bigint`` range; other numbers 404 (``EventIdConverter``).
register_converter(EventIdConverter, "pgh_id")


def _wrap(model_admin: ModelAdmin[Any], view: Callable[..., Any]) -> Callable[..., Any]:
    """Staff only, like every admin view (``admin_view`` also applies ``csrf_protect``).

    An htmx request whose session has ended gets ``HX-Redirect`` to the login page.
    """
    wrapper = sessions.admin_view(model_admin.admin_site, view)
    wrapper.model_admin = model_admin  # type: ignore[attr-defined]
    return update_wrapper(wrapper, view)


def _name(model_admin: ModelAdmin[Any], suffix: str) -> str:
    opts = model_admin.model._meta
    return f"{opts.app_label}_{opts.model_name}_{suffix}"


def object_history_urls(model_admin: HistoryAdminMixin) -> list[URLPattern]:
    """The timeline, compare, export, revert, blame and as-of pages of one model's objects.

    Names: ``<app>_<model>_history`` (the admin's own History URL, served by ``history_view``
    behind the htmx-aware login check), ``…_history_compare``, ``…_history_export``,
    ``…_history_revert``, ``…_history_blame`` and ``…_history_as_of``.
    """
    views: dict[str, tuple[str, type[View[Any]]]] = {
        "compare": ("<path:object_id>/history/compare/", model_admin.history_compare_view_class),
        "export": ("<path:object_id>/history/export/", model_admin.history_export_view_class),
        "revert": (
            "<path:object_id>/history/<pgh_id:pgh_id>/revert/",
            model_admin.history_revert_view_class,
        ),
        "blame": ("<path:object_id>/history/blame/", model_admin.history_blame_view_class),
        "as_of": ("<path:object_id>/history/as-of/", model_admin.history_as_of_view_class),
    }
    timeline = path(
        "<path:object_id>/history/",
        _wrap(model_admin, model_admin.history_view),
        name=_name(model_admin, "history"),
    )
    return [timeline] + [
        path(
            route,
            _wrap(
                model_admin,
                view_class.as_view(model_admin=model_admin, admin_site=model_admin.admin_site),
            ),
            name=_name(model_admin, f"history_{suffix}"),
        )
        for suffix, (route, view_class) in views.items()
    ]


def audit_log_urls(model_admin: AuditLogAdmin) -> list[URLPattern]:
    """The audit log (``…_changelist``), its CSV export (``…_export``), an event's diff (``…_diff``)."""
    site = model_admin.admin_site
    views: dict[str, tuple[str, type[View[Any]]]] = {
        "changelist": ("", model_admin.audit_log_view_class),
        "export": ("export/", model_admin.export_view_class),
        "diff": ("<pgh_id:pgh_id>/diff/", model_admin.diff_view_class),
    }
    return [
        path(
            route,
            _wrap(model_admin, view_class.as_view(admin_site=site)),
            name=_name(model_admin, suffix),
        )
        for suffix, (route, view_class) in views.items()
    ]
