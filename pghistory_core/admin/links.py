"""The buttons django-pghistory 3.x's admin adds to the admin pages of tracked models.

On a tracked model's change list, "Events" opens the events admin filtered by that model; on a
change form, "Events" opens the events of that object, and one button per event model with an
``EventModelAdmin`` opens that event model's rows of the object. Each link carries ``back``, the
page it was followed from. A link is offered only where the admin is registered on the site
showing the page and the user may view it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.sites import AdminSite, all_sites
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext

from pghistory_core import config
from pghistory_core.registry import event_models


@dataclass(frozen=True)
class Link:
    url: str
    text: str
    css_class: str


def _site(request: HttpRequest) -> AdminSite:
    name = getattr(request, "current_app", None)
    return next((site for site in all_sites if site.name == name), admin.site)


def _tracking(model: type[models.Model]) -> list[type[Any]]:
    concrete = model._meta.concrete_model
    return [m for m in event_models() if m.pgh_tracked_model._meta.concrete_model is concrete]


def _changelist(site: AdminSite, model: type[models.Model], query: dict[str, str]) -> str | None:
    opts = model._meta
    try:
        url = reverse(f"{site.name}:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(query)}"


def _viewable_admin(site: AdminSite, model: type[models.Model], request: HttpRequest) -> Any:
    model_admin = site._registry.get(model)
    if model_admin is None or not model_admin.has_view_permission(request):
        return None
    return model_admin


def links(
    request: HttpRequest, model: type[models.Model], back: str, obj: models.Model | None = None
) -> list[Link]:
    """The event buttons of ``model``'s change list (or of ``obj``'s change form)."""
    from pghistory_core.admin.core import EventModelAdmin

    tracking = _tracking(model)
    if not tracking:
        return []
    site, label = _site(request), model._meta.label
    result = []
    if obj is not None:
        for event_model in tracking:
            model_admin = _viewable_admin(site, event_model, request)
            if not isinstance(model_admin, EventModelAdmin) or not event_model.pgh_has_obj:
                continue
            url = _changelist(site, event_model, {"obj": f"{label}:{obj.pk}", "back": back})
            if url:
                text = str(event_model._meta.verbose_name_plural)
                result.append(Link(url, text, "event-admin"))
    events_model = config.admin_queryset().model
    if _viewable_admin(site, events_model, request) is not None:
        query = (
            {"method": "tracks", "obj": f"{label}:{obj.pk}", "back": back}
            if obj is not None
            else {"model": label, "back": back}
        )
        url = _changelist(site, events_model, query)
        if url:
            result.append(Link(url, gettext("Events"), "events-admin"))
    return result
