"""Pages of one object (which may be deleted): its timeline and its CSV export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.admin import AdminSite, ModelAdmin
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, models
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.generic import TemplateView, View

from pghistory_admin import conf, export, timeouts
from pghistory_admin.keys import parse_object_id, renamed_to
from pghistory_admin.labels import last_labels
from pghistory_admin.pagination import KeysetPage
from pghistory_admin.permissions import event_models_of
from pghistory_admin.rows import EventRow, RowBuilder
from pghistory_admin.views.base import AdminPageMixin, PageMixin
from pghistory_core.models import Events

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from pghistory_core.models import Event

__all__ = ["ObjectHistoryExportView", "ObjectHistoryView", "ObjectMixin"]


class ObjectMixin(AdminPageMixin):
    """Resolves the object of a per-object page and checks the ``ModelAdmin``'s permissions.

    The object may be deleted: its history stays reachable by id.
    """

    model_admin: ModelAdmin[Any] | None = None

    def get_model_admin(self) -> ModelAdmin[Any]:
        if self.model_admin is None:
            raise TypeError(f"{type(self).__name__}.as_view() needs model_admin=…")
        return self.model_admin

    def get_admin_site(self) -> AdminSite:
        return self.admin_site or self.get_model_admin().admin_site

    @property
    def model(self) -> type[models.Model]:
        return self.get_model_admin().model

    def setup_object(self, object_id: str) -> None:
        """Set ``pk`` and ``object`` (``None`` when deleted); 404 / 403 as the admin would."""
        try:
            self.pk = parse_object_id(self.model, object_id)
        except ValidationError:
            raise Http404(_("Not a valid id.")) from None
        model_admin = self.get_model_admin()
        self.object = model_admin.get_object(self.request, unquote(object_id))
        if self.object is None and self.model._base_manager.filter(pk=self.pk).exists():
            # The row exists but the admin's queryset hides it from this user.
            raise Http404
        self.check_permission()

    def check_permission(self) -> None:
        if not self.get_model_admin().has_view_or_change_permission(self.request, self.object):
            raise PermissionDenied

    def get_event_models(self) -> list[type[Event]]:
        return event_models_of(self.model)

    def get_queryset(self) -> QuerySet[Any]:
        """The object's events (the ``(pgh_obj, pgh_id)`` index answers it)."""
        events = Events.objects.using(conf.read_database()).by_attname()
        return events.across(*self.get_event_models()).tracks(self.model(pk=self.pk))

    def renamed_to(self) -> str | None:
        """The key the object was changed to, when its row is gone because its key changed."""
        if self.object is not None:
            return None
        if not hasattr(self, "_renamed_to"):
            moved = renamed_to(self.model, [self.pk], using=conf.read_database())
            self._renamed_to = moved.get(self.pk)
        return self._renamed_to

    def object_label(self) -> str:
        """``str()`` of the object; of its last recorded values when it was deleted."""
        if self.object is not None:
            return str(self.object)
        if not hasattr(self, "_last_label"):
            self._last_label = last_labels(self.model, [self.pk], using=conf.read_database())
        new_key = self.renamed_to()
        if new_key is not None:
            return _("%(object)s (renamed to #%(id)s)") % {
                "object": self._last_label.get(self.pk, f"#{self.pk}"),
                "id": new_key,
            }
        if self.pk in self._last_label:
            return _("%(object)s (deleted)") % {"object": self._last_label[self.pk]}
        return _("%(model)s #%(id)s (deleted)") % {
            "model": capfirst(self.model._meta.verbose_name),
            "id": self.pk,
        }

    def _renamed_to_url(self) -> str | None:
        new_key = self.renamed_to()
        if new_key is None:
            return None
        try:
            new_pk = self.model._meta.pk.to_python(new_key)
        except ValidationError:
            return None
        return self.get_links().history(self.model, new_pk)

    def get_object_context(self) -> dict[str, Any]:
        links = self.get_links()
        model_admin = self.get_model_admin()
        return {
            "opts": self.model._meta,
            "module_name": str(capfirst(self.model._meta.verbose_name_plural)),
            "object": self.object,
            "object_id": self.pk,
            "object_label": self.object_label(),
            "object_exists": self.object is not None,
            "change_url": links.change(self.model, self.pk) if self.object is not None else None,
            "history_url": links.history(self.model, self.pk),
            "renamed_to": self.renamed_to(),
            "renamed_to_url": self._renamed_to_url(),
            "changelist_url": links.reverse(
                f"{self.model._meta.app_label}_{self.model._meta.model_name}_changelist"
            )
            if model_admin.has_view_or_change_permission(self.request)
            else None,
        }


class ObjectHistoryView(ObjectMixin, PageMixin, TemplateView):
    """The timeline of one object, newest first, each event with its field changes."""

    template_name = "pghistory_admin/object_history.html"
    partial_template_name = "pghistory_admin/_timeline_page.html"
    extra_context: dict[str, Any] | None = None

    def get(self, request: HttpRequest, *args: Any, object_id: str, **kwargs: Any) -> HttpResponse:
        self.setup_object(object_id)
        self.page = self.paginate(self.get_queryset())
        self.rows = self.get_rows(self.page)
        return self.finalize(self.render_to_response(self.get_context_data()))

    def get_rows(self, page: KeysetPage) -> list[EventRow]:
        rows = RowBuilder(self.get_links(), using=conf.read_database()).build(
            page.rows, objects=False, diffs=True
        )
        model_admin = self.get_model_admin()
        # Restoring the old key of an object whose key changed would make a second object:
        # its versions are reverted from the timeline under the new key.
        can_revert = (
            model_admin.has_change_permission(self.request, self.object)
            and (self.object is not None or model_admin.has_add_permission(self.request))
            and self.renamed_to() is None
        )
        if can_revert:
            links = self.get_links()
            for row in rows:
                row.extra["revert_url"] = links.object_history(
                    "revert", self.model, self.pk, row.pgh_id
                )
        return rows

    def get_title(self) -> str:
        return _("History: %s") % self.object_label()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(self.get_admin_context())
        context.update(self.get_object_context())
        context.update(self.get_pagination_context(self.page))
        links = self.get_links()
        context.update(
            rows=self.rows,
            results_url=self.request.path,
            compare_url=links.object_history("compare", self.model, self.pk),
            export_url=links.object_history("export", self.model, self.pk),
            blame_url=links.object_history("blame", self.model, self.pk),
            as_of_url=links.object_history("as_of", self.model, self.pk),
            audit_log_url=links.audit_log(
                model=self.model._meta.label_lower, object=quote(self.pk)
            ),
            **(self.extra_context or {}),
        )
        return context


class ObjectHistoryExportView(ObjectMixin, View):
    """One object's history as CSV (each statement under the statement timeout)."""

    bounded_dispatch = False

    def get(
        self, request: HttpRequest, *args: Any, object_id: str, **kwargs: Any
    ) -> HttpResponseBase:
        self.setup_object(object_id)
        filename = f"{self.model._meta.label_lower}-{self.pk}-history.csv"
        # Keep the header value plain: ids of char primary keys may hold anything.
        filename = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)
        try:
            return export.csv_response(self.get_queryset().order_by("-pgh_id"), filename=filename)
        except DatabaseError as error:
            if not timeouts.is_timeout(error):
                raise
            return self.timeout_response()
