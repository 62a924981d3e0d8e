"""Field blame of one object: each field's value and the event that set it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView

import pghistory_core
from pghistory_admin import conf
from pghistory_admin.diffs import field_changes
from pghistory_admin.rows import EventRow, RowBuilder
from pghistory_admin.values import jsonable
from pghistory_admin.views.objects import ObjectMixin
from pghistory_core.blame import CHANGED, CREATED, TRACKED, Blame

__all__ = ["BlameLine", "BlameView"]

#: How a field that did not change since the object's first event is described.
STATUS_NOTES = {
    CREATED: gettext_lazy("unchanged since creation"),
    TRACKED: gettext_lazy("unchanged since history began"),
    CHANGED: "",
}
UNRECORDED_NOTE = gettext_lazy("changed without a recorded event")


@dataclass(frozen=True)
class BlameLine:
    """One field of the blame table."""

    name: str
    label: str
    value: str
    kind: str
    status: str
    note: str
    row: EventRow | None


class BlameView(ObjectMixin, TemplateView):
    """Each tracked field's current value, when it last changed, by whom, via what."""

    template_name = "pghistory_admin/blame.html"

    def get(self, request: HttpRequest, *args: Any, object_id: str, **kwargs: Any) -> HttpResponse:
        self.setup_object(object_id)
        try:
            self.blame = self.get_blame()
        except ObjectDoesNotExist:
            raise Http404(_("No history has been recorded for this object.")) from None
        return self.finalize(self.render_to_response(self.get_context_data()))

    def get_blame(self) -> Blame:
        return pghistory_core.blame(self.model, self.pk, using=conf.read_database())

    def get_lines(self) -> list[BlameLine]:
        links = self.get_links()
        events = {f.event.pgh_id: f.event.row for f in self.blame if f.event is not None}
        rows = RowBuilder(links, using=conf.read_database()).build(
            list(events.values()), objects=False
        )
        by_id = {row.pgh_id: row for row in rows}
        data = {f.attname: jsonable(f.value) for f in self.blame}
        # Values as the timeline shows them: secrets masked, foreign keys to models the user
        # may not view as a bare id.
        rendered = {
            change.name: change
            for change in field_changes(
                self.model,
                None,
                data,
                initial=True,
                using=conf.read_database(),
                may_view=links.may_view,
            )
        }
        lines = []
        for blamed in self.blame:
            change = rendered[blamed.name]
            note = str(STATUS_NOTES.get(blamed.status, UNRECORDED_NOTE))
            lines.append(
                BlameLine(
                    name=blamed.name,
                    label=change.label,
                    value=change.new,
                    kind=change.kind,
                    status=blamed.status,
                    note=note,
                    row=by_id.get(blamed.event.pgh_id) if blamed.event is not None else None,
                )
            )
        return lines

    def get_title(self) -> str:
        return _("Blame: %s") % self.object_label()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(self.get_admin_context())
        context.update(self.get_object_context())
        context.update(
            lines=self.get_lines(),
            blame=self.blame,
            as_of_url=self.get_links().object_history("as_of", self.model, self.pk),
        )
        return context
