"""Two versions of one object side by side: two events, or an event and the current row."""

from __future__ import annotations

from typing import Any

from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView

from pghistory_admin.diffs import field_changes
from pghistory_admin.pagination import MAX_ID, InvalidCursor, parse_id
from pghistory_admin.rows import RowBuilder
from pghistory_admin.snapshots import current_data, diff_data
from pghistory_admin.views.objects import ObjectMixin

__all__ = ["CompareForm", "CompareView"]


class CompareForm(forms.Form):
    """Two events of the object (``a``, ``b``); ``b`` may be ``current``, the row as it is."""

    a = forms.IntegerField(label=gettext_lazy("From event"), min_value=1, max_value=MAX_ID)
    b = forms.CharField(label=gettext_lazy("To event"), max_length=20)

    def clean_b(self) -> int | str:
        value = self.cleaned_data["b"].strip()
        if value == "current":
            return value
        try:
            pgh_id = parse_id(value)
        except InvalidCursor:
            pgh_id = None
        if pgh_id is not None:
            return pgh_id
        raise ValidationError(_("Pick an event or the current version."))


class CompareView(ObjectMixin, TemplateView):
    """Two events of one object, or an event and the current row, side by side."""

    template_name = "pghistory_admin/compare.html"
    form_class = CompareForm

    def get(self, request: HttpRequest, *args: Any, object_id: str, **kwargs: Any) -> HttpResponse:
        self.setup_object(object_id)
        form = self.form_class(request.GET or None)
        context = {"form": form, "changes": None}
        if form.is_valid():
            context.update(self.compare(form))
        return self.finalize(self.render_to_response(self.get_context_data(**context)))

    def compare(self, form: CompareForm) -> dict[str, Any]:
        a, b = form.cleaned_data["a"], form.cleaned_data["b"]
        ids = [a] if b == "current" else [a, b]
        events = {e.pgh_id: e for e in self.get_queryset().filter(pgh_id__in=ids)}
        if set(ids) - set(events):
            form.add_error(None, _("These events are not events of this object."))
            return {}
        rows = RowBuilder(self.get_links()).build(
            sorted(events.values(), key=lambda e: e.pgh_id), objects=False
        )
        left = rows[0]
        if b == "current":
            event_model = apps.get_model(left.event.pgh_model)
            current = current_data(event_model, self.pk)
            if current is None:
                form.add_error("b", _("The object was deleted: there is no current version."))
                return {}
            right_data, right = current, None
        else:
            right = rows[-1]
            right_data = right.event.pgh_data or {}
        left_data = left.event.pgh_data or {}
        diff = diff_data(left_data, right_data)
        return {
            "left": left,
            "right": right,
            "changes": field_changes(
                self.model, diff, right_data, may_view=self.get_links().may_view
            ),
        }

    def get_title(self) -> str:
        return _("Compare versions: %s") % self.object_label()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(self.get_admin_context())
        context.update(self.get_object_context())
        return context
