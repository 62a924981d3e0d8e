"""One object as it was at a chosen moment, its inline rows as they were, and a diff to now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.models import _get_foreign_key
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView

import pghistory_core
from pghistory_admin import conf
from pghistory_admin.diffs import field_changes
from pghistory_admin.snapshots import current_data, diff_data
from pghistory_admin.values import FieldValue, as_of_values, event_data
from pghistory_admin.views.objects import ObjectMixin
from pghistory_core.as_of import AsOfDoesNotExist
from pghistory_core.event_kinds import object_event_models

__all__ = ["AsOfForm", "AsOfView", "RelatedRows"]

#: ISO spellings accepted besides the locale's (``datetime-local`` inputs send the first).
INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class AsOfForm(forms.Form):
    """The moment to show, in the current time zone."""

    at = forms.DateTimeField(
        label=gettext_lazy("Date and time"),
        input_formats=INPUT_FORMATS,
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "step": 1}, format="%Y-%m-%dT%H:%M:%S"
        ),
    )

    def clean_at(self) -> datetime:
        value: datetime = self.cleaned_data["at"]
        # Far years overflow when converted to UTC; no history is that old or that new.
        if not 1 < value.year < 9999:
            raise ValidationError(_("Pick a date between the years 2 and 9998."))
        return value


@dataclass(frozen=True)
class RelatedRows:
    """The rows of an inline model that pointed at the object at the moment."""

    label: str
    columns: list[str]
    rows: list[list[FieldValue]]


class AsOfView(ObjectMixin, TemplateView):
    """The object at ``?at=…``: its fields, related objects, inline rows, a diff to now, revert."""

    template_name = "pghistory_admin/as_of.html"
    form_class = AsOfForm

    def get(self, request: HttpRequest, *args: Any, object_id: str, **kwargs: Any) -> HttpResponse:
        self.setup_object(object_id)
        form = self.form_class(request.GET or None, auto_id="pgh-as-of-%s")
        context: dict[str, Any] = {"form": form}
        if form.is_valid():
            context.update(self.show(form.cleaned_data["at"]))
        response = self.render_to_response(self.get_context_data(**context))
        if form.is_bound and not form.is_valid():
            response.status_code = 400
        return self.finalize(response)

    def show(self, when: datetime) -> dict[str, Any]:
        using = conf.read_database()
        try:
            instance = pghistory_core.as_of(self.model, self.pk, when, using=using)
        except AsOfDoesNotExist as missing:
            return {"when": when, "missing": missing, "missing_url": self._event_url(missing)}
        data = event_data([instance], using)[0]
        links = self.get_links()
        state = instance.pgh_as_of  # type: ignore[attr-defined]
        return {
            "when": when,
            "instance": instance,
            "state": state,
            "values": as_of_values(instance, data, may_view=links.may_view, using=using),
            "related_rows": self.get_related_rows(instance),
            "changes": self.get_changes(data),
            "revert_url": self.get_revert_url(state.revert_pgh_id),
            "event_url": links.audit_log("diff", state.pgh_id),
        }

    def _event_url(self, missing: AsOfDoesNotExist) -> str | None:
        return self.get_links().audit_log("diff", missing.pgh_id) if missing.pgh_id else None

    def get_changes(self, data: dict[str, Any]) -> list[Any] | None:
        """What changed from the moment to now (``None`` when the object is deleted now)."""
        if self.object is None:
            return None
        event_models = object_event_models(self.model)
        now: dict[str, Any] = {}
        for event_model in event_models:
            now.update(current_data(event_model, self.pk, using=conf.read_database()) or {})
        diff = diff_data(data, now)
        return field_changes(
            self.model, diff, now, using=conf.read_database(), may_view=self.get_links().may_view
        )

    def get_revert_url(self, pgh_id: int | None) -> str | None:
        """The revert preview of the event holding the values at the moment, if allowed."""
        if pgh_id is None:
            return None
        model_admin = self.get_model_admin()
        if not model_admin.has_change_permission(self.request, self.object):
            return None
        if self.object is None and not model_admin.has_add_permission(self.request):
            return None
        return self.get_links().object_history("revert", self.model, self.pk, pgh_id)

    def get_inlines(self) -> list[tuple[type[models.Model], models.ForeignKey[Any, Any]]]:
        """Tracked models of the ``ModelAdmin``'s inlines the user may view, and their key to us."""
        model_admin = self.get_model_admin()
        links = self.get_links()
        result = []
        for inline in model_admin.get_inline_instances(self.request, self.object):
            related = inline.model
            if not object_event_models(related) or not links.may_view(related):
                continue
            try:
                fk = _get_foreign_key(self.model, related, fk_name=inline.fk_name)
            except ValueError:
                continue
            result.append((related, fk))
        return result

    def get_related_rows(self, instance: models.Model) -> list[RelatedRows]:
        using = conf.read_database()
        may_view = self.get_links().may_view
        sections = []
        for related, fk in self.get_inlines():
            rows = pghistory_core.related_as_of(instance, related, fk.name, using=using)
            datas = event_data(rows, using)
            values = [
                as_of_values(row, data, may_view=may_view, using=using, exclude=(fk.attname,))
                for row, data in zip(rows, datas, strict=True)
            ]
            columns = [value.label for value in values[0]] if values else []
            sections.append(
                RelatedRows(str(capfirst(related._meta.verbose_name_plural)), columns, values)
            )
        return sections

    def get_title(self) -> str:
        return _("As of a moment: %s") % self.object_label()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(self.get_admin_context())
        context.update(self.get_object_context())
        context["now"] = timezone.localtime()
        context["blame_url"] = self.get_links().object_history("blame", self.model, self.pk)
        return context
