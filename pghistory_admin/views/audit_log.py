"""The audit log: every event the user may view, filtered, as a table; its export and diffs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView, View
from django.views.generic.base import ContextMixin, TemplateResponseMixin
from django_filters.views import FilterMixin
from django_tables2.views import SingleTableMixin

from pghistory_admin import conf, export, timeouts
from pghistory_admin.conf import MASK
from pghistory_admin.filters import EventFilterSet
from pghistory_admin.pagination import BEFORE, InvalidCursor, KeysetPage, Limiter, parse_id
from pghistory_admin.permissions import viewable_event_models
from pghistory_admin.rows import EventRow, RowBuilder
from pghistory_admin.search_limit import SearchLimit, export_note, search_limit
from pghistory_admin.tables import SORTS, EventTable
from pghistory_admin.views.base import AdminPageMixin, PageMixin, querystring
from pghistory_core import attribution
from pghistory_core.models import Context, Events

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from pghistory_core.models import Event

__all__ = ["AuditLogExportView", "AuditLogMixin", "AuditLogView", "EventDiffView", "EventsMixin"]

#: What the context panel says of the keys a write made outside Django records.
SESSION_NOTES = {
    attribution.DB_ROLE: gettext_lazy("the database login role of the session"),
    attribution.APPLICATION_NAME: gettext_lazy("chosen by the client, proves nothing"),
    attribution.CLIENT_ADDR: gettext_lazy("as the database server saw it"),
}


class EventsMixin:
    """The events this user may view (``permissions.viewable_event_models``); 403 if none."""

    request: HttpRequest

    def get_event_models(self) -> list[type[Event]]:
        """The event models whose events this user may see."""
        if not hasattr(self, "_event_models"):
            self._event_models = viewable_event_models(self.request.user)
        return self._event_models

    def check_permission(self) -> None:
        if not self.get_event_models():
            raise PermissionDenied

    def get_queryset(self) -> QuerySet[Any]:
        events = Events.objects.using(conf.read_database()).by_attname()
        return events.across(*self.get_event_models())


class AuditLogMixin(
    EventsMixin, PageMixin, FilterMixin, SingleTableMixin, TemplateResponseMixin, ContextMixin
):
    """What the audit log page and its CSV export share: the filters over the events the user
    may view, and the page itself (the export shows it when its filters are invalid)."""

    rows: list[EventRow]

    template_name = "pghistory_admin/audit_log.html"
    partial_template_name = "pghistory_admin/_table.html"
    title = gettext_lazy("Audit log")
    filterset_class = EventFilterSet
    table_class = EventTable
    table_pagination = False

    def get_filterset_kwargs(self, filterset_class: Any) -> dict[str, Any]:
        kwargs = super().get_filterset_kwargs(filterset_class)
        kwargs["event_models"] = self.get_event_models()
        return kwargs

    def get_sort(self) -> str:
        sort = self.request.GET.get("sort", "-time")
        return sort if sort in SORTS else "-time"

    def get_filtered_queryset(self) -> QuerySet[Any] | None:
        """The filtered queryset, or ``None`` when the filters are invalid."""
        if self.filterset.is_bound and not self.filterset.is_valid():
            return None
        return self.filterset.qs

    def setup_filters(self) -> None:
        """Check the user may see events, and bind the filters to the query string."""
        self.check_permission()
        self.filterset = self.get_filterset(self.get_filterset_class())

    def get_limiter(self) -> Limiter | None:
        """A search for a field's changes reads a bounded number of events (``search_limit``)."""
        scope = self.filterset.search_scope(self.get_queryset())
        if scope is None:
            return None

        def limit(start: int | None, descending: bool) -> SearchLimit | None:
            return search_limit(scope, start=start, descending=descending)

        return limit

    def get_rows(self, page: KeysetPage) -> list[EventRow]:
        return RowBuilder(self.get_links(), using=conf.read_database()).build(page.rows)

    def get_table_data(self) -> list[EventRow]:
        return self.rows

    def get_table_kwargs(self) -> dict[str, Any]:
        return {"order_by": self.get_sort()}

    def get_context_panel(self) -> dict[str, Any] | None:
        """The context being filtered on ("what happened in this request"), if any."""
        if not self.filterset.is_valid():
            return None
        context_id = self.filterset.form.cleaned_data.get("context_id")
        if not context_id:
            return None
        if not self.rows and not self.get_queryset().filter(pgh_context_id=context_id).exists():
            # No event of this context is one the user may view: its metadata (who, where,
            # any key recorded) belongs to changes of other models.
            return {"id": context_id, "context": None, "metadata": {}}
        context = Context.objects.using(conf.read_database()).filter(pk=context_id).first()
        metadata = context.metadata if context is not None else None
        if metadata is None and self.rows:
            metadata = self.rows[0].event.pgh_context_metadata
        shown = {
            key: MASK if conf.is_secret_context_key(str(key)) else value
            for key, value in (metadata or {}).items()
        }
        return {
            "id": context_id,
            "context": context,
            "metadata": shown,
            "entries": [self.get_context_entry(key, value) for key, value in shown.items()],
        }

    def get_context_entry(self, key: str, value: Any) -> dict[str, Any]:
        """One metadata key of the panel: its value as text, and a link for the user."""
        if key in SESSION_NOTES:
            return {"key": key, "value": value, "url": None, "note": SESSION_NOTES[key]}
        if key != "user" or value == MASK:
            return {"key": key, "value": value, "url": None}
        if value is None:
            return {"key": key, "value": _("anonymous (not logged in)"), "url": None}
        # The row builder names users as the table does: username, or "deleted user #id".
        row = EventRow(
            event=Events(pgh_context_metadata={"user": value}),
            tracked_model=None,
            action="",
            source="",
        )
        RowBuilder(self.get_links(), using=conf.read_database()).add_users([row])
        return {"key": key, "value": row.user_label or value, "url": row.user_url}

    def get_export_url(self) -> str | None:
        url = self.get_links().audit_log("export")
        if url is None:
            return None
        return url + querystring(self.request, before=None, after=None, sort=None)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(self.get_admin_context())
        context.update(self.get_pagination_context(self.page))
        context.update(
            filter=self.filterset,
            rows=self.rows,
            sort=self.get_sort(),
            context_panel=self.get_context_panel(),
            search_limit=self.page.limit,
            search_field=self.filterset.field_label() if self.page.limit else None,
            export_url=self.get_export_url(),
            results_url=self.request.path,
            # A swap of the results also refreshes the "changed field" choices (they follow the
            # model filter): the partial carries that field out of band.
            oob_filters=self.is_partial(),
        )
        return context


class AuditLogView(AuditLogMixin, TemplateView):
    """Every event the user may view, filtered, newest first, as a table."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.setup_filters()
        self.descending = SORTS[self.get_sort()]
        self.page = self.paginate(self.get_filtered_queryset())
        self.rows = self.get_rows(self.page)
        return self.finalize(self.render_to_response(self.get_context_data()))


class AuditLogExportView(AuditLogMixin, View):
    """The audit log's current filter as CSV.

    Invalid filters answer with the audit log page showing their errors (400), and an export
    that cannot start (e.g. its first query exceeds the statement timeout) with an error page:
    never a header-only file. Each of its statements runs under the statement timeout.
    """

    filename = "audit-log.csv"
    bounded_dispatch = False

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.setup_filters()
        queryset = self.get_filtered_queryset()
        if queryset is None:
            return self.invalid_filters_response()
        scope = self.filterset.search_scope(self.get_queryset())
        try:
            # Only a search for a field's changes goes on from a cursor (see limit_export).
            before = parse_id(request.GET.get(BEFORE)) if scope is not None else None
        except InvalidCursor:
            return self.invalid_filters_response()
        try:
            queryset, trailer = self.limit_export(queryset, scope, before)
            return export.csv_response(
                queryset.order_by("-pgh_id"), filename=self.filename, trailer=trailer
            )
        except DatabaseError as error:
            if not timeouts.is_timeout(error):
                raise
            return self.timeout_response()

    def limit_export(
        self, queryset: QuerySet[Any], scope: QuerySet[Any] | None, before: int | None
    ) -> tuple[QuerySet[Any], bytes]:
        """A search for a field's changes (``scope``: the events it tests) exports what the
        pages of the same URL show until one says where the search stopped: the events below
        ``before`` as far as ``search_limit`` goes. The last line of the file then says so."""
        if scope is None:
            return queryset, b""
        if before is not None:
            queryset = queryset.filter(pgh_id__lt=before)
        with timeouts.statement_timeout():
            limit = search_limit(scope, start=before, descending=True)
            if limit is None:
                return queryset, b""
            note = export_note(limit, self.filterset.form.cleaned_data["field"])
        return queryset.filter(pgh_id__gte=limit.pgh_id), note

    def invalid_filters_response(self) -> HttpResponse:
        """The audit log with the filter form's errors, and no rows."""
        self.descending = SORTS[self.get_sort()]
        self.page = self.paginate(None)
        self.rows = []
        message = _("The export was not started: correct the filters below.")
        context = self.get_context_data(export_error=message)
        response = self.response_class(
            request=self.request,
            template=[self.template_name],
            context=context,
            using=self.template_engine,
            status=400,
        )
        return self.finalize(response)


class EventDiffView(EventsMixin, AdminPageMixin, TemplateView):
    """One event's field changes: the audit log's rows load it when expanded."""

    template_name = "pghistory_admin/row_diff.html"
    partial_template_name = "pghistory_admin/_row_diff.html"
    title = gettext_lazy("Event")

    def get_row(self, pgh_id: int) -> EventRow:
        # ``pgh_id`` is in the bigint range: the URL's converter (``EventIdConverter``) said so.
        event = self.get_queryset().filter(pgh_id=pgh_id).first()
        if event is None:
            raise Http404(_("No such event."))
        return RowBuilder(self.get_links(), using=conf.read_database()).build([event], diffs=True)[
            0
        ]

    def get(self, request: HttpRequest, *args: Any, pgh_id: int, **kwargs: Any) -> HttpResponse:
        self.check_permission()
        self.row = self.get_row(pgh_id)
        return self.finalize(self.render_to_response(self.get_context_data(row=self.row)))

    def get_title(self) -> str:
        """ "Product “Sencha (T-1)” was updated", or "…: snapshot" for other labels."""
        row = self.row
        names = {"model": row.model_label, "object": row.object_label or f"#{row.event.pgh_obj_id}"}
        sentences = {
            "insert": _("%(model)s “%(object)s” was created"),
            "update": _("%(model)s “%(object)s” was updated"),
            "delete": _("%(model)s “%(object)s” was deleted"),
        }
        sentence = sentences.get(row.event.pgh_label)
        if sentence is not None:
            return sentence % names
        return _("%(model)s “%(object)s”: %(action)s") % {**names, "action": row.action}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(self.get_admin_context())
        return context
