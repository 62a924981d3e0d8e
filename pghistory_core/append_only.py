"""The explicit bypass of append-only protection, used for pruning."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pgtrigger

from pghistory_core.aggregate import event_models as all_event_models
from pghistory_core.runtime import context

# The pgtrigger names of the protection installed by ``track(append_only=True)``.
APPEND_ONLY_TRIGGERS = ("append_only", "append_only_truncate")


@contextlib.contextmanager
def bypass(*event_models: Any, databases: list[str] | None = None) -> Iterator[None]:
    """Lift the ``append_only`` protection of ``event_models`` (all when none are given)."""
    models = list(event_models) or [
        m for m in all_event_models() if getattr(m, "pgh_append_only", False)
    ]
    uris = [
        f"{model._meta.label}:{name}"
        for model in models
        if getattr(model, "pgh_append_only", False)
        for name in APPEND_ONLY_TRIGGERS
    ]
    if not uris:
        raise ValueError("None of these event models is append-only.")
    with context(pgh_bypass_append_only=sorted(uris)), pgtrigger.ignore(*uris, databases=databases):
        yield
