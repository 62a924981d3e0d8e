"""The export built in Python: ``csv_rows`` reads the events and formats each cell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from pghistory_admin.diffs import MASK
from pghistory_admin.export.cells import (
    COLUMNS,
    context_keys,
    key_column,
    masked_key,
    neutralise,
    secret_keys,
)

_VALUES = (
    "pgh_id",
    "pgh_created_at",
    "pgh_obj_model",
    "pgh_obj_id",
    "pgh_label",
    "pgh_context_id",
    "pgh_context_metadata",
    "pgh_data",
    "pgh_diff",
    "pgh_model",
)


def csv_rows(queryset: models.QuerySet[Any], *, chunk_size: int = 2000) -> Iterator[list[str]]:
    """The header, then one row per event, newest first.

    Columns: ``pgh_id``, ``created_at`` (ISO 8601 with microseconds and offset, current time
    zone), ``model``, ``object_id``, ``label``, ``context_id``, one column per context metadata
    key found in the exported events (sorted; named ``context.<key>`` if the key is one of these
    column names), ``data`` and ``diff`` (JSON). Every cell goes through ``neutralise``.

    Values of fields that ``PGHISTORY_ADMIN_SECRET_FIELDS`` names are masked in ``data`` and
    ``diff`` (a changed one shows as ``[MASK, MASK]``).

    ``queryset`` must be unsliced; its ordering is replaced by ``-pgh_id``.
    """
    keys = context_keys(queryset)
    header = [*COLUMNS, *(key_column(key) for key in keys), "data", "diff"]
    yield [neutralise(name) for name in header]
    secrets = {model._meta.label: secret_keys(model) for model in queryset.event_models()}  # type: ignore[attr-defined]
    for event in _events(queryset, chunk_size):
        metadata = event["pgh_context_metadata"]
        if not isinstance(metadata, dict):
            metadata = {}
        masked = secrets.get(event["pgh_model"])
        if masked:
            _mask(event, masked)
        values = [
            event["pgh_id"],
            event["pgh_created_at"],
            event["pgh_obj_model"],
            event["pgh_obj_id"],
            event["pgh_label"],
            event["pgh_context_id"],
            *(masked_key(key, metadata.get(key)) for key in keys),
            event["pgh_data"],
            event["pgh_diff"],
        ]
        yield [neutralise(_text(value)) for value in values]


def _events(queryset: models.QuerySet[Any], chunk_size: int) -> Iterator[dict[str, Any]]:
    """Every event as a dict, by keyset on ``pgh_id`` (no OFFSET, one query per chunk)."""
    ordered = queryset.order_by("-pgh_id").values(*_VALUES)
    last: int | None = None
    while True:
        page = ordered if last is None else ordered.filter(pgh_id__lt=last)
        chunk = list(page[:chunk_size])
        yield from chunk
        if len(chunk) < chunk_size:
            return
        last = chunk[-1]["pgh_id"]


def _mask(event: dict[str, Any], keys: frozenset[str]) -> None:
    data, diff = event["pgh_data"], event["pgh_diff"]
    if isinstance(data, dict):
        event["pgh_data"] = {k: MASK if k in keys else v for k, v in data.items()}
    if isinstance(diff, dict):
        event["pgh_diff"] = {k: [MASK, MASK] if k in keys else v for k, v in diff.items()}


def _text(value: Any) -> str:
    """A cell: scalars as text, timestamps as full ISO 8601, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict | list | bool):
        return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True)
    return str(value)  # UUID, Decimal, ...
