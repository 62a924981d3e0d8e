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

#: Stand-ins for ids when a URL is reversed once per request and reused for every row: digits
#: pass every built-in path converter but ``uuid``; two of them show whether a converter changes
#: its value (then the URL is reversed for each id instead).
_STAND_INS = ("7301946285", "5829163740")


def _info(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}_{model._meta.model_name}"


def _is_digits(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return value >= 0
    return isinstance(value, str) and value.isascii() and value.isdigit()


class AdminLinks:
    """URLs for one request: which pages exist on the site and which the user may open.

    Permission answers are cached per model, so a page of rows costs no query per row; URLs
    whose arguments are ids (or that take none) are reversed once per name and filled in for
    each row. Without a request, only the pages that need no permission are linked
    (``history``, ``audit_log``).
    """

    def __init__(self, admin_site: AdminSite, request: HttpRequest | None) -> None:
        self.admin_site = admin_site
        self.request = request
        self._may_open: dict[type[models.Model], bool] = {}
        self._may_view: dict[type[models.Model], bool] = {}
        self._model_admins: dict[type[models.Model], ModelAdmin[Any] | None] = {}
        self._patterns: dict[tuple[str, int], list[str] | None] = {}
        self._plain: dict[str, str | None] = {}

    def model_admin(self, model: type[models.Model]) -> ModelAdmin[Any] | None:
        """The site's ``ModelAdmin`` of ``model``, if registered."""
        if model not in self._model_admins:
            registered = self.admin_site.is_registered(model)
            self._model_admins[model] = (
                self.admin_site.get_model_admin(model) if registered else None
            )
        return self._model_admins[model]

    def reverse(self, name: str, *args: Any, query: dict[str, Any] | None = None) -> str | None:
        """``reverse()`` in the site's namespace; ``None`` when the URL does not exist."""
        url = self._reverse(name, args)
        if url is None:
            return None
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v not in (None, "")})
        return url

    def _reverse_now(self, name: str, args: tuple[Any, ...]) -> str | None:
        try:
            return reverse(
                f"{self.admin_site.name}:{name}", args=args, current_app=self.admin_site.name
            )
        except NoReverseMatch:
            return None

    def _reverse(self, name: str, args: tuple[Any, ...]) -> str | None:
        if not args:
            # The same URL for every row (e.g. the audit log filtered on a row's context).
            if name not in self._plain:
                self._plain[name] = self._reverse_now(name, args)
            return self._plain[name]
        if not all(_is_digits(arg) for arg in args):
            return self._reverse_now(name, args)
        key = (name, len(args))
        if key not in self._patterns:
            self._patterns[key] = self._pattern(name, len(args))
        pieces = self._patterns[key]
        if pieces is None:
            return self._reverse_now(name, args)
        # Digits are left as they are by the converters and the quoting reverse() applies.
        parts = [pieces[0]]
        for arg, piece in zip(args, pieces[1:], strict=True):
            parts += [str(arg), piece]
        return "".join(parts)

    def _pattern(self, name: str, count: int) -> list[str] | None:
        """The URL of ``name`` cut where its ``count`` arguments go (``None``: reverse each)."""
        found = []
        for stand_in in _STAND_INS:
            ids = [f"{stand_in}{index}" for index in range(count)]
            url = self._reverse_now(name, tuple(ids))
            if url is None:
                return None
            pieces = []
            for id_ in ids:
                head, found_id, url = url.partition(id_)
                if not found_id:
                    return None
                pieces.append(head)
            found.append([*pieces, url])
        return found[0] if found[0] == found[1] else None

    def _viewable(self, model: type[models.Model]) -> bool:
        if model not in self._may_open:
            model_admin = self.model_admin(model)
            self._may_open[model] = (
                model_admin is not None
                and self.request is not None
                and bool(model_admin.has_view_or_change_permission(self.request))
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
        """Whether ``model``'s ``ModelAdmin`` on the site serves the history pages.

        Recognised by duck typing, not by class: a ``ModelAdmin`` whose ``pghistory_admin``
        attribute is ``True`` (``HistoryAdminMixin`` sets it; a subclass may set it back to
        ``False``), so this module never imports ``pghistory_admin.admin``.
        """
        return getattr(self.model_admin(model), "pghistory_admin", False) is True

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

        if self.model_admin(AuditLog) is None:
            return None
        return self.reverse(f"{_info(AuditLog)}_{name}", *args, query=query)
