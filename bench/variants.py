"""The libraries compared, as variants of one item model with or without a history context."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pghistory
from django.db import models

import pghistory_core
from bench import models as bench_models

USER, URL = 1, "/bench"


@dataclass(frozen=True)
class Variant:
    """One library writing one model, with or without a context."""

    key: str
    library: str
    model: type[models.Model]
    #: Where the library records events (``None``: untracked).
    events: type[models.Model] | None
    #: ``"yes"``, ``"no"`` or ``"n/a"`` (the library has no such concept).
    context: str
    open_context: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
    #: Column of ``events`` that is set when an event belongs to a context.
    context_column: str | None = None
    #: Only for these operations (``None``: all).
    operations: tuple[str, ...] | None = None


def item_variants() -> list[Variant]:
    """Every write variant, the untracked baseline first."""
    core_event = bench_models.CoreItemEvent  # type: ignore[attr-defined]
    peer_event = bench_models.PghistoryItemEvent  # type: ignore[attr-defined]
    historical = bench_models.SimpleHistoryItem.history.model  # type: ignore[attr-defined]
    return [
        Variant("untracked", "untracked", bench_models.PlainItem, None, "n/a"),
        Variant("pghistory-admin", "pghistory-admin", bench_models.CoreItem, core_event, "no"),
        Variant(
            "pghistory-admin+ctx",
            "pghistory-admin",
            bench_models.CoreItem,
            core_event,
            "yes",
            lambda: pghistory_core.context(user=USER, url=URL),
            "pgh_context_id",
        ),
        Variant(
            "django-pghistory", "django-pghistory", bench_models.PghistoryItem, peer_event, "no"
        ),
        Variant(
            "django-pghistory+ctx",
            "django-pghistory",
            bench_models.PghistoryItem,
            peer_event,
            "yes",
            lambda: pghistory.context(user=USER, url=URL),
            "pgh_context_id",
        ),
        Variant(
            "django-simple-history",
            "django-simple-history",
            bench_models.SimpleHistoryItem,
            historical,
            "n/a",
        ),
        Variant(
            "django-simple-history (bulk_create_with_history)",
            "django-simple-history",
            bench_models.SimpleHistoryItem,
            historical,
            "n/a",
            operations=("bulk_create",),
        ),
    ]


def context_tables() -> list[str]:
    """The tables holding context rows of both trigger libraries."""
    from pghistory.models import Context as PeerContext

    from pghistory_core.models import Context

    return [Context._meta.db_table, PeerContext._meta.db_table]
