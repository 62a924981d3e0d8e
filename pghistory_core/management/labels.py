"""Event models named on a management command's line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.management.base import CommandError

from pghistory_core.registry import event_models, filter_event_models


def named_event_models(labels: Sequence[str]) -> list[Any]:
    """The event models ``labels`` name (``app_label.Model``, any case); all when none are given.

    Raises ``CommandError`` naming the labels that are no event model.
    """
    if not labels:
        return event_models()
    chosen = filter_event_models(labels)
    unknown = {label.lower() for label in labels} - {m._meta.label_lower for m in chosen}
    if unknown:
        raise CommandError(f"Not event models: {', '.join(sorted(unknown))}")
    return chosen
