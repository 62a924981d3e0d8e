"""The installed event models, as django-pgtrigger's ``registry`` holds its triggers.

``event_model.setup_event_model()`` registers each concrete event model when its class is
prepared; everything else asks here. It imports nothing of the package, so any module can.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.apps import apps

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = ["event_models", "filter_event_models", "register", "resolve_event_model"]

#: ``"app_label.ModelName"`` -> the event model class last prepared under that label.
_registered: dict[str, type[Any]] = {}


def register(event_model: type[Any]) -> None:
    """Record a concrete event model of the project's app registry (not a migration's state)."""
    if event_model._meta.apps is apps:
        _registered[event_model._meta.label] = event_model


def event_models() -> list[type[Event]]:
    """Every installed concrete event model, in app registry order."""
    return [model for model in apps.get_models() if _registered.get(model._meta.label) is model]


def resolve_event_model(value: Any) -> type[Event]:
    """An installed event model from itself or its ``"app_label.ModelName"`` label."""
    model = apps.get_model(value) if isinstance(value, str) else value
    if model not in event_models():
        raise ValueError(f"{value!r} is not an installed event model.")
    return model


def filter_event_models(names: Iterable[str]) -> list[type[Event]]:
    """Resolve ``"app.Model"`` labels of event models, ignoring unknown ones."""
    known = {model._meta.label_lower: model for model in event_models()}
    return [known[name.lower()] for name in names if name.lower() in known]
