"""Revert an object to an event's version, or restore a deleted one: preview, then confirm.

A revert writes only what the user could change through the ``ModelAdmin`` (``revert_plan``),
and saves through its ``save_model`` and ``log_change`` / ``log_addition``.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

import pghistory_core
from pghistory_admin.diffs import FieldChange, field_changes
from pghistory_admin.revert_plan import RevertPlan, plan_revert
from pghistory_admin.rows import RowBuilder
from pghistory_admin.snapshots import current_data, diff_data
from pghistory_admin.views.objects import ObjectMixin
from pghistory_admin.wording import action_label
from pghistory_core.meta import field
from pghistory_core.revert import missing_fields, revert_event

__all__ = ["RevertView"]


class RevertView(ObjectMixin, TemplateView):
    """Preview what reverting to an event changes (GET), then revert (POST).

    Needs the change permission on the object (``has_change_permission(request, obj)``), and the
    add permission to restore a deleted row. Only the fields the admin's form lets the user edit
    are written; the preview lists the others with the reason. A version that is already
    current changes nothing and says so.
    """

    template_name = "pghistory_admin/revert.html"

    def check_permission(self) -> None:
        model_admin = self.get_model_admin()
        if not model_admin.has_change_permission(self.request, self.object):
            raise PermissionDenied
        if self.object is None and not model_admin.has_add_permission(self.request):
            raise PermissionDenied

    def setup_event(self, object_id: str, pgh_id: int) -> None:
        # ``pgh_id`` is in the bigint range: the URL's converter (``EventIdConverter``) said so.
        self.setup_object(object_id)
        row = self.get_queryset().filter(pgh_id=pgh_id).first()
        if row is None:
            raise Http404(_("No such event of this object."))
        self.row = RowBuilder(self.get_links()).build([row], objects=False)[0]
        self.event_model = apps.get_model(row.pgh_model)

    def get_changes(self) -> list[FieldChange]:
        """Every tracked field whose current value differs from the event's (all when deleted)."""
        if not hasattr(self, "_changes"):
            data = self.row.event.pgh_data or {}
            current = current_data(self.event_model, self.pk)
            may_view = self.get_links().may_view
            if current is None:
                self._changes = field_changes(
                    self.model, None, data, initial=True, may_view=may_view
                )
            else:
                self._changes = field_changes(
                    self.model, diff_data(current, data), data, may_view=may_view
                )
        return self._changes

    def get_plan(self) -> RevertPlan:
        """Which of the changes the user may make through the ``ModelAdmin``, which not and why."""
        if not hasattr(self, "_plan"):
            self._plan = plan_revert(
                self.get_model_admin(), self.request, self.object, self.get_changes()
            )
        return self._plan

    def get_restore_problem(self) -> str | None:
        """Why this revert cannot be made, if it cannot (named for the restore case it was)."""
        if self.object is not None:
            return None
        # The rule revert_event() applies: a deleted row is recreated only from every field.
        missing = [
            str(field(self.model, name).verbose_name) for name in missing_fields(self.event_model)
        ]
        if missing:
            return _("This event does not record %(fields)s: it cannot recreate the object.") % {
                "fields": ", ".join(missing)
            }
        blocking = self.get_plan().blocking
        if blocking:
            return _(
                "You may not set %(fields)s when adding this object: it cannot be restored."
            ) % {"fields": ", ".join(str(refused.change.label) for refused in blocking)}
        return None

    def is_current(self) -> bool:
        """Whether the object already has every value of the version the user may revert."""
        return self.object is not None and not self.get_plan().changes

    def get(
        self, request: HttpRequest, *args: Any, object_id: str, pgh_id: int, **kwargs: Any
    ) -> HttpResponse:
        self.setup_event(object_id, pgh_id)
        return self.finalize(self.render_to_response(self.get_context_data()))

    def post(
        self, request: HttpRequest, *args: Any, object_id: str, pgh_id: int, **kwargs: Any
    ) -> HttpResponse:
        self.setup_event(object_id, pgh_id)
        problem = self.get_restore_problem()
        if problem is None and self.is_current():
            # Nothing to write: no event, no LogEntry.
            messages.info(request, self.get_current_message())
            return HttpResponseRedirect(self.get_success_url())
        if problem is None:
            try:
                obj = self.revert()
            except ValidationError as error:
                problem = _("The object could not be reverted: %s") % " ".join(error.messages)
            except (ValueError, DatabaseError) as error:
                problem = _("The object could not be reverted: %s") % error
            else:
                self.log(obj)
                messages.success(request, self.get_success_message(obj))
                return HttpResponseRedirect(self.get_success_url())
        messages.error(request, problem)
        response = self.render_to_response(self.get_context_data(problem=problem))
        response.status_code = 400
        return self.finalize(response)

    def revert(self) -> models.Model:
        """Write the event's values the user may change back, through the ``ModelAdmin``.

        Validated like the admin's form would (``full_clean`` of the written fields), saved with
        ``save_model``, recorded under the request's user and URL.
        """
        event = self.event_model._base_manager.get(pgh_id=self.row.pgh_id)
        user = self.request.user
        model_admin = self.get_model_admin()
        form_class = model_admin.get_form(self.request, self.object, change=self.object is not None)
        # Restoring writes every tracked field (the add form allowed each, or set it itself).
        fields = None if self.object is None else self.get_plan().fields

        def save(obj: models.Model, created: bool) -> None:
            written = fields if fields is not None else self.event_model.pgh_tracked_fields
            obj.full_clean(exclude=[f.name for f in obj._meta.fields if f.name not in written])
            model_admin.save_model(self.request, obj, form_class(instance=obj), not created)

        with pghistory_core.context(
            user=user.pk if user.is_authenticated else None, url=self.request.path
        ):
            # Only the fields the user's form may change (the preview said which).
            return revert_event(event, fields=fields, save=save)

    def log(self, obj: models.Model) -> None:
        """Record the revert in the admin's own log (``LogEntry``) as well."""
        message = _("Reverted to event #%(id)s (%(action)s): %(fields)s.") % {
            "id": self.row.pgh_id,
            "action": self.row.action,
            "fields": ", ".join(str(change.label) for change in self.get_plan().changes),
        }
        model_admin = self.get_model_admin()
        if self.object is None:
            model_admin.log_addition(self.request, obj, message)
        else:
            model_admin.log_change(self.request, obj, message)

    def get_success_message(self, obj: models.Model) -> str:
        verb = _("restored") if self.object is None else _("reverted")
        return _("%(object)s was %(verb)s to its version of event #%(id)s.") % {
            "object": obj,
            "verb": verb,
            "id": self.row.pgh_id,
        }

    def get_current_message(self) -> str:
        return _(
            "%(object)s already has the values of event #%(id)s that you may change: "
            "nothing was reverted."
        ) % {"object": self.object, "id": self.row.pgh_id}

    def get_success_url(self) -> str:
        return self.get_links().history(self.model, self.pk) or self.request.path

    def get_title(self) -> str:
        if self.object is None:
            return _("Restore %s") % self.object_label()
        return _("Revert %s") % self.object_label()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(self.get_admin_context())
        context.update(self.get_object_context())
        context.setdefault("problem", self.get_restore_problem())
        plan = self.get_plan()
        context.update(
            row=self.row,
            changes=plan.changes if self.object is not None else self.get_changes(),
            refused=plan.refused if self.object is not None else plan.blocking,
            is_current=self.is_current(),
            action=action_label(self.row.event.pgh_label),
        )
        return context
