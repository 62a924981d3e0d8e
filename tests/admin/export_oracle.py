"""The tests' oracle of the CSV export: ``csv_rows`` builds in Python the rows that the ``COPY``
export (``pghistory_admin.export.copy_chunks``) has Postgres format; the tests compare the two.

It reads the events and formats each cell by the rules of ``pghistory_admin.export.cells``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from pghistory_admin import conf
from pghistory_admin.conf import MASK
from pghistory_admin.export.cells import (
    SESSION_KEYS,
    SHOWN_KEYS,
    actions,
    header,
    is_integer_key,
    neutralise,
    secret_keys,
)


def rest_of(metadata: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """The metadata that has no column of its own, secret values masked."""
    skipped = {*SHOWN_KEYS, *keys}
    return {key: masked_key(key, value) for key, value in metadata.items() if key not in skipped}


def command_of(metadata: dict[str, Any]) -> str | None:
    """The management command and its arguments, as the pages show it."""
    command = metadata.get("command")
    if command is None:
        return None
    args = metadata.get("command_args")
    parts = [command, *(args if isinstance(args, list) else [])]
    return " ".join(part if isinstance(part, str) else _json_text(part) for part in parts)


#: The text of a recorded user id that can name a user with an integer key (fits a bigint).
INTEGER_ID = re.compile(r"-?[0-9]{1,18}")


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def masked_key(key: str, value: Any) -> Any:
    """A context value, masked when its key holds secrets."""
    return MASK if value is not None and conf.is_secret_context_key(key) else value


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

    The columns are the same for every export (see ``export.cells.header``): ``pgh_id``,
    ``created_at`` (ISO 8601 with microseconds and offset, current time zone), ``model``
    (``app_label.Model``), ``object_id``, ``action`` (the word the pages show: created, updated,
    deleted, or the label), ``label`` (the raw ``pgh_label``), ``user_id`` (as recorded),
    ``user`` (its username; empty when unknown), ``url``, ``command`` (with its arguments),
    ``db_role``, ``application_name`` and ``client_addr`` (of a write made outside Django),
    ``context_id``, one ``context.<key>`` column per key of
    ``PGHISTORY_ADMIN_EXPORT_CONTEXT_COLUMNS``, ``context`` (the other metadata, a JSON object),
    ``data`` and ``diff`` (JSON). Every cell goes through ``neutralise``.

    Values of fields that ``PGHISTORY_ADMIN_SECRET_FIELDS`` names are masked in ``data`` and
    ``diff`` (a changed one shows as ``[MASK, MASK]``), and so are context values under such keys.

    ``queryset`` must be unsliced; its ordering is replaced by ``-pgh_id``.
    """
    keys = conf.export_context_columns()
    words = actions()
    yield [neutralise(name) for name in header(keys)]
    secrets = {model._meta.label: secret_keys(model) for model in queryset.event_models()}  # type: ignore[attr-defined]
    for chunk in _chunks(queryset, chunk_size):
        usernames = _usernames(chunk, queryset.db)
        for event in chunk:
            metadata = event["pgh_context_metadata"]
            if not isinstance(metadata, dict):
                metadata = {}
            masked = secrets.get(event["pgh_model"])
            if masked:
                _mask(event, masked)
            user = metadata.get("user")
            rest = rest_of(metadata, keys)
            values = [
                event["pgh_id"],
                event["pgh_created_at"],
                event["pgh_obj_model"],
                event["pgh_obj_id"],
                words.get(event["pgh_label"], event["pgh_label"]),
                event["pgh_label"],
                user,
                usernames.get(_text(user)) if user is not None else None,
                masked_key("url", metadata.get("url")),
                command_of(metadata),
                *(metadata.get(key) for key in SESSION_KEYS),
                event["pgh_context_id"],
                *(masked_key(key, metadata.get(key)) for key in keys),
                rest or None,
                event["pgh_data"],
                event["pgh_diff"],
            ]
            yield [neutralise(_text(value)) for value in values]


def _chunks(queryset: models.QuerySet[Any], chunk_size: int) -> Iterator[list[dict[str, Any]]]:
    """Every event as a dict, by keyset on ``pgh_id`` (no OFFSET, one query per chunk)."""
    # Keyed by attribute name, as the COPY export keys them.
    ordered = queryset.by_attname().order_by("-pgh_id").values(*_VALUES)  # type: ignore[attr-defined]
    last: int | None = None
    while True:
        page = ordered if last is None else ordered.filter(pgh_id__lt=last)
        chunk = list(page[:chunk_size])
        if chunk:
            yield chunk
        if len(chunk) < chunk_size:
            return
        last = chunk[-1]["pgh_id"]


def _usernames(chunk: list[dict[str, Any]], using: str) -> dict[str, str]:
    """``{recorded user id as text: username}`` of the chunk's users (one query).

    A recorded id names a user when its text is the user's primary key's text (for integer
    keys, an optional minus and digits), as ``export.cell_sql`` matches it in SQL.
    """
    user_model = get_user_model()
    integer = is_integer_key(user_model)
    wanted: dict[str, Any] = {}
    for event in chunk:
        metadata = event["pgh_context_metadata"]
        raw = metadata.get("user") if isinstance(metadata, dict) else None
        if raw is None:
            continue
        text = _text(raw)
        if integer:
            if INTEGER_ID.fullmatch(text):
                wanted[text] = int(text)
        elif not isinstance(raw, dict | list):
            wanted[text] = text
    if not wanted:
        return {}
    users = user_model._default_manager.db_manager(using).filter(pk__in=set(wanted.values()))
    names = {str(user.pk): user.get_username() for user in users}
    return {text: names[text] for text in wanted if text in names}


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
