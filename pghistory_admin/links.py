"""Admin URLs of history pages, resolved against one ``AdminSite`` (so custom sites work)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.admin import AdminSite, ModelAdmin
from django.contrib.admin.utils import quote
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from pghistory_admin.permissions import can_view_model

__all__ = ["AdminLinks"]


def _info(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}_{model._meta.model_name}"


class AdminLinks:
    """URLs for one request: which pages exist on the site and which the user may open.

    Permission answers are cached per model, so a page of rows costs no query per row.
    """

    def __init__(self, admin_site: AdminSite, request: HttpRequest) -> None:
        self.admin_site = admin_site
        self.request = request
        self._may_open: dict[type[models.Model], bool] = {}
        self._may_view: dict[type[models.Model], bool] = {}

    def model_admin(self, model: type[models.Model]) -> ModelAdmin[Any] | None:
        """The site's ``ModelAdmin`` of ``model``, if registered."""
        if not self.admin_site.is_registered(model):
            return None
        return self.admin_site.get_model_admin(model)

    def reverse(self, name: str, *args: Any, query: dict[str, Any] | None = None) -> str | None:
        """``reverse()`` in the site's namespace; ``None`` when the URL does not exist."""
        try:
            url = reverse(
                f"{self.admin_site.name}:{name}", args=args, current_app=self.admin_site.name
            )
        except NoReverseMatch:
            return None
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v not in (None, "")})
        return url

    def _viewable(self, model: type[models.Model]) -> bool:
        if model not in self._may_open:
            model_admin = self.model_admin(model)
            self._may_open[model] = model_admin is not None and bool(
                model_admin.has_view_or_change_permission(self.request)
            )
        return self._may_open[model]

    def may_view(self, model: type[models.Model]) -> bool:
        """Whether the user may see rows of ``model`` (``permissions.can_view_model``), cached.

        Diffs show a foreign key to a model refused here as its raw id, not its target's label.
        """
        if model not in self._may_view:
            user = getattr(self.request, "user", None)
            self._may_view[model] = can_view_model(user, model)
        return self._may_view[model]

    def has_history_admin(self, model: type[models.Model]) -> bool:
        """Whether ``model`` is registered on the site with ``HistoryAdminMixin``."""
        from pghistory_admin.admin import HistoryAdminMixin

        return isinstance(self.model_admin(model), HistoryAdminMixin)

    def change(self, model: type[models.Model], pk: Any) -> str | None:
        """The change (or view) page of a row, when the user may open it."""
        if pk is None or not self._viewable(model):
            return None
        return self.reverse(f"{_info(model)}_change", quote(pk))

    def history(self, model: type[models.Model], pk: Any, **query: Any) -> str | None:
        """The object's timeline, when its ``ModelAdmin`` uses ``HistoryAdminMixin``."""
        if not self.has_history_admin(model):
            return None
        return self.reverse(f"{_info(model)}_history", quote(pk), query=query)

    def object_history(
        self, name: str, model: type[models.Model], pk: Any, *args: Any
    ) -> str | None:
        """Another per-object history page (``compare``, ``export``, ``revert``…)."""
        return self.reverse(f"{_info(model)}_history_{name}", quote(pk), *args)

    def audit_log(self, name: str = "changelist", *args: Any, **query: Any) -> str | None:
        """A page of the audit log, when it is registered on the site."""
        from pghistory_admin.models import AuditLog

        if not self.admin_site.is_registered(AuditLog):
            return None
        return self.reverse(f"{_info(AuditLog)}_{name}", *args, query=query)
