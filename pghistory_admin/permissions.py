"""Who may see which events: the one place the admin's permission rules live.

An event of tracked model X is visible to an active staff user holding the view or change
permission on X (superusers hold every permission), the rule of ``ModelAdmin``'s default
``has_view_or_change_permission``. Pages built for one object ask that object's ``ModelAdmin``
instead, so a customised ``has_view_permission`` applies there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_permission_codename
from django.db import models

from pghistory_core.registry import event_models

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = [
    "can_view_model",
    "event_models_of",
    "viewable_event_models",
]


def _has_model_perm(user: Any, model: type[models.Model], action: str) -> bool:
    opts = model._meta
    return bool(user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}"))


def can_view_model(user: Any, model: type[models.Model]) -> bool:
    """Whether ``user`` may see the history of ``model`` (view or change permission)."""
    if not (getattr(user, "is_active", False) and getattr(user, "is_staff", False)):
        return False
    return _has_model_perm(user, model, "view") or _has_model_perm(user, model, "change")


def viewable_event_models(user: Any) -> list[type[Event]]:
    """The event models whose events ``user`` may see, in app registry order."""
    allowed: dict[type[models.Model], bool] = {}
    result = []
    for event_model in event_models():
        tracked = event_model.pgh_tracked_model
        if tracked not in allowed:
            allowed[tracked] = can_view_model(user, tracked)
        if allowed[tracked]:
            result.append(event_model)
    return result


def event_models_of(model: type[models.Model]) -> list[type[Event]]:
    """The event models recording rows of ``model`` that know their row (``pgh_obj``)."""
    concrete = model._meta.concrete_model
    return [
        event_model
        for event_model in event_models()
        if event_model.pgh_has_obj
        and event_model.pgh_tracked_model._meta.concrete_model is concrete
    ]
