"""Auto-created many-to-many through models: their triggers live on a generated proxy model.

Django keeps an auto-created through model (``Item.tags.through``) out of the migration state,
so triggers registered on it would never reach a migration, and nothing would be recorded. A
proxy model of it is part of the state (django-pgtrigger adds the dependency on the M2M field),
which is what django-pghistory 3.x asks users to declare by hand (``class UserGroups(
User.groups.through)`` with ``proxy = True``). Tracking the through model directly declares that
proxy for you, in the event model's app, and installs the triggers through it; ``pgh_obj``
references it too (Django allows no foreign key to the auto-created model itself).
"""

from __future__ import annotations

import sys
from typing import Any

from django.apps import apps
from django.db import models


def trigger_model(event_model: type[Any]) -> type[models.Model]:
    """The model whose ``Meta.triggers`` hold the event triggers of ``event_model``."""
    tracked: type[models.Model] = event_model.pgh_tracked_model
    if not tracked._meta.auto_created:
        return tracked
    return proxy_of(tracked, event_model._meta.app_label, event_model.__module__)


def proxy_name(through: type[models.Model]) -> str:
    """``Item_tags`` -> ``ItemTagsThrough``."""
    parts = (through._meta.object_name or through.__name__).split("_")
    return "".join(part[:1].upper() + part[1:] for part in parts) + "Through"


def proxy_of(through: type[models.Model], app_label: str, module: str) -> type[models.Model]:
    """The proxy of ``through`` in ``app_label`` (declared the first time it is asked for)."""
    name = proxy_name(through)
    existing = apps.all_models[app_label].get(name.lower())
    if existing is not None:
        if existing._meta.proxy and existing._meta.concrete_model is through:
            return existing
        raise ValueError(
            f"Cannot declare the proxy {app_label}.{name} of {through._meta.label} to hold its "
            "history triggers: the app already has a model of that name."
        )
    meta = type("Meta", (), {"proxy": True, "app_label": app_label})
    attrs = {
        "__module__": module,
        "__doc__": f"Holds the history triggers of {through._meta.label} (auto-created).",
        "Meta": meta,
    }
    proxy: type[models.Model] = type(name, (through,), attrs)
    # Importable from the module it is declared in, like a proxy written by hand.
    module_obj = sys.modules.get(module)
    if module_obj is not None and not hasattr(module_obj, name):
        setattr(module_obj, name, proxy)
    return proxy
