"""The ModelAdmins of django-pghistory 3.x's events admin (3.x: ``pghistory.admin.core``).

``EventModelAdmin`` lists one event model's rows; ``EventsAdmin`` lists the aggregate
(``pghistory_core.Events``) with filters by label, event model, tracked model and object. Both
are read-only. The aggregate only ever shows events of the tracked models the user may view
(view or change permission on the tracked model).

Query parameters as in 3.x: ``label``, ``event_model`` (``app.EventModel``), ``model``
(``app.Model``: events of that tracked model), ``obj`` (``app.Model:pk``) with ``method``
(``tracks`` or ``references``), and ``back`` (a URL to return to, offered as a link).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_permission_codename
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.http import url_has_allowed_host_and_scheme

from pghistory_core import config
from pghistory_core.aggregate import EventsQuerySet
from pghistory_core.registry import event_models


def _get_model(label: str | None) -> type[models.Model] | None:
    """The model named ``app_label.ModelName`` (``pghistory.X`` meaning ``pghistory_core.X``),
    or ``None`` for anything else."""
    if not label or label.count(".") != 1:
        return None
    app_label, _, name = label.partition(".")
    if app_label == "pghistory":
        app_label = "pghistory_core"
    try:
        return apps.get_model(app_label, name)
    except (LookupError, ValueError):
        return None


def _get_obj(value: str | None) -> models.Model | None:
    """An unsaved instance carrying the primary key of ``app_label.ModelName:pk``."""
    if not value or ":" not in value:
        return None
    label, _, pk = value.partition(":")
    model = _get_model(label)
    if model is None or not pk:
        return None
    return model(pk=pk)


def _may_view(user: Any, model: type[models.Model]) -> bool:
    if not (getattr(user, "is_active", False) and getattr(user, "is_staff", False)):
        return False
    opts = model._meta
    return any(
        user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
        for action in ("view", "change")
    )


def _viewable_event_models(request: HttpRequest) -> list[type[Any]]:
    return [m for m in event_models() if _may_view(request.user, m.pgh_tracked_model)]


def _listed_event_models(request: HttpRequest) -> list[type[Any]]:
    """The event models the filters offer: viewable ones, narrowed by ``obj``/``model``."""
    viewable = _viewable_event_models(request)
    obj = _get_obj(request.GET.get("obj"))
    model = _get_model(request.GET.get("model"))
    if obj is not None and request.GET.get("method") == "references":
        return [
            m
            for m in viewable
            if any(
                f.is_relation and f.related_model is type(obj)
                for f in m.pgh_tracked_model._meta.concrete_fields
            )
            or m.pgh_tracked_model is type(obj)
        ]
    target = type(obj) if obj is not None else model
    if target is None:
        return viewable
    concrete = target._meta.concrete_model
    return [m for m in viewable if m.pgh_tracked_model._meta.concrete_model is concrete]


class LabelFilter(admin.SimpleListFilter):
    """By label: the tracker labels of the event models listed."""

    title = "label"
    parameter_name = "label"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        model = model_admin.model
        listed = [model] if hasattr(model, "pgh_trackers") else _listed_event_models(request)
        labels = {str(t.label) for m in listed for t in getattr(m, "pgh_trackers", None) or []}
        return [(label, label) for label in sorted(labels)]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(pgh_label=self.value()) if self.value() else queryset


class EventModelFilter(admin.SimpleListFilter):
    """By event model: one of the event models the user may view."""

    title = "event model"
    parameter_name = "event_model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return sorted((m._meta.label_lower, m._meta.label) for m in _listed_event_models(request))

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if not self.value():
            return queryset
        chosen = _get_model(self.value())
        if chosen not in _viewable_event_models(request):
            # Unknown, or a model the user may not view: the admin shows its "invalid filter"
            # page instead of the events.
            raise IncorrectLookupParameters(f"Unknown event model {self.value()!r}.")
        return queryset.across(chosen)


class _EchoFilter(admin.SimpleListFilter):
    """A parameter given in the URL (by a link), shown as the only choice."""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = request.GET.get(str(self.parameter_name))
        return [(value, value)] if value else []

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset


class ModelFilter(_EchoFilter):
    """``model=app.Model``: events of that tracked model."""

    title = "model"
    parameter_name = "model"

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if not self.value():
            return queryset
        listed = _listed_event_models(request)
        if _get_model(self.value()) is None or not listed:
            raise IncorrectLookupParameters(f"Unknown tracked model {self.value()!r}.")
        if isinstance(queryset, EventsQuerySet) and "event_model" not in request.GET:
            return queryset.across(*listed)
        return queryset


class ObjFilter(_EchoFilter):
    """``obj=app.Model:pk``: events of that object (``method`` chooses tracks/references)."""

    title = "object"
    parameter_name = "obj"

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if not self.value():
            return queryset
        obj = _get_obj(self.value())
        if obj is None:
            raise IncorrectLookupParameters(f"Unknown object {self.value()!r}.")
        if isinstance(queryset, EventsQuerySet):
            method = request.GET.get("method")
            return queryset.references(obj) if method == "references" else queryset.tracks(obj)
        if hasattr(queryset.model, "pgh_obj"):
            return queryset.filter(pgh_obj=obj.pk)
        return queryset


class MethodFilter(admin.SimpleListFilter):
    """``method``: whether ``obj`` selects the events tracking it or referencing it."""

    title = "method"
    parameter_name = "method"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("tracks", "tracks"), ("references", "references")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() not in (None, "tracks", "references"):
            raise IncorrectLookupParameters(f"Unknown method {self.value()!r}.")
        return queryset  # applied by ObjFilter


class BackFilter(_EchoFilter):
    """``back``: the page the user came from (kept across filter changes, not shown: the
    page offers it as its "Back" button)."""

    title = "back"
    parameter_name = "back"
    template = "pghistory_core_admin/hidden_filter.html"


class BaseEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: events are written by triggers, never by hand."""

    change_list_template = "pghistory_core_admin/events_change_list.html"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = dict(extra_context or {})
        context.setdefault("title", str(self.model._meta.verbose_name_plural).capitalize())
        obj = _get_obj(request.GET.get("obj"))
        model = _get_model(request.GET.get("model"))
        method = request.GET.get("method")
        if obj is not None:
            label = f"{obj._meta.label} {obj.pk}"
            context["subtitle"] = f"{method.title()} {label}" if method else label
        elif model is not None:
            context["subtitle"] = model._meta.label
        back = request.GET.get("back")
        if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            context["pgh_back"] = back
        return super().changelist_view(request, extra_context=context)


class EventModelAdmin(BaseEventAdmin):
    """The admin of one event model: read-only, filtered by label and object."""

    list_filter = [LabelFilter, ObjFilter, BackFilter]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        tracked = getattr(self.model, "pgh_tracked_model", None)
        if tracked is not None and not _may_view(request.user, tracked):
            return False
        return super().has_view_permission(request, obj)


class EventsChangeList(ChangeList):
    """With ``PGHISTORY_ADMIN_ALL_EVENTS = False``, no events until a filter is chosen."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> Any:
        queryset = super().get_queryset(request, exclude_parameters)
        if not config.admin_all_events() and not self.has_active_filters:
            return queryset.none()
        return queryset


class EventsAdmin(BaseEventAdmin):
    """The events of every event model the user may view, as one list."""

    def get_urls(self) -> list[URLPattern]:
        urls = super().get_urls()
        if self.model._meta.app_label == "pghistory":
            return urls
        # django-pghistory 3.x's name of this page (its app label is ``pghistory``), so code that
        # reverses "admin:pghistory_events_changelist" finds the same page here.
        changelist = self.admin_site.admin_view(self.changelist_view)
        return [
            *urls,
            path("", changelist, name=f"pghistory_{self.model._meta.model_name}_changelist"),
        ]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return EventsChangeList

    def get_list_display(self, request: HttpRequest) -> list[str]:  # type: ignore[override]
        return config.admin_list_display()

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        filters: list[Any] = [LabelFilter, EventModelFilter]
        if "obj" in request.GET:
            filters += [MethodFilter, ObjFilter, BackFilter]
        elif "model" in request.GET:
            filters += [ModelFilter, BackFilter]
        return filters

    def get_queryset(self, request: HttpRequest) -> Any:
        queryset = config.admin_queryset()
        if isinstance(queryset, EventsQuerySet):
            viewable = _viewable_event_models(request)
            if not viewable:
                return queryset.none()
            return queryset.across(*viewable)
        return queryset.all()
