"""The export's columns, context keys, secret fields and defused cells.

``export.cell_sql`` formats the cells in SQL by these rules; the tests' oracle
(``tests/admin/export_oracle.py``) builds the same rows in Python.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from pghistory_admin import conf
from pghistory_admin.wording import ACTIONS
from pghistory_core import attribution
from pghistory_core.meta import field
from pghistory_core.models import Context, Event

#: Characters a spreadsheet reads as the start of a formula (see ``neutralise``).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: The first columns of every export, whatever its filter: then one ``context.<key>`` column per
#: key of ``PGHISTORY_ADMIN_EXPORT_CONTEXT_COLUMNS``, and ``TRAILING``.
COLUMNS = (
    "pgh_id",
    "created_at",
    "model",
    "object_id",
    "action",
    "label",
    "user_id",
    "user",
    "url",
    "command",
    "db_role",
    "application_name",
    "client_addr",
    "context_id",
)
#: The last columns: the other context metadata (a JSON object), the values and the changes.
TRAILING = ("context", "data", "diff")
#: The keys a write made outside Django records (``pghistory_core.attribution``), in the order
#: of their columns.
SESSION_KEYS = attribution.KEYS
#: Metadata keys that have columns of their own in every export.
SHOWN_KEYS = ("user", "url", "command", "command_args", *SESSION_KEYS)


def header(keys: list[str]) -> list[str]:
    """The export's columns, given the context keys exported as columns of their own."""
    return [*COLUMNS, *(f"context.{key}" for key in keys), *TRAILING]


def actions() -> dict[str, str]:
    """The words the pages show for the built-in labels, in the current language."""
    return {label: str(word) for label, word in ACTIONS.items()}


def is_integer_key(model: type[models.Model]) -> bool:
    """Whether ``model``'s primary key is an integer (compared as a number, on its index)."""
    return isinstance(model._meta.pk, models.IntegerField)


class _ObjectKeys(models.Func):
    function = "jsonb_object_keys"
    output_field = models.TextField()


class _JSONType(models.Func):
    function = "jsonb_typeof"
    output_field = models.TextField()


def secret_keys(event_model: type[Event]) -> frozenset[str]:
    """Keys of ``pgh_data`` and ``pgh_diff`` that ``PGHISTORY_ADMIN_SECRET_FIELDS`` masks."""
    tracked_model = event_model.pgh_tracked_model
    found = set()
    for name in event_model.pgh_tracked_fields:
        tracked_field = field(tracked_model, name)
        if conf.is_secret_field(tracked_model, tracked_field.attname, tracked_field):
            found.add(tracked_field.attname)
    return frozenset(found)


def context_keys(queryset: models.QuerySet[Any]) -> list[str]:
    """Sorted metadata keys of the contexts of these events, without reading the events' rows.

    Context rows (``fk`` contexts) are found through the events' ``pgh_context_id``; event
    models with a denormalised ``json`` context are asked for their own column.
    """
    chosen = queryset.event_models()  # type: ignore[attr-defined]
    keys: set[str] = set()
    if any(model.pgh_context_kind == "fk" for model in chosen):
        ids = queryset.order_by().values("pgh_context_id")
        contexts = Context.objects.using(queryset.db).filter(id__in=ids)
        keys |= _object_keys(contexts, "metadata")
    json_models = [model for model in chosen if model.pgh_context_kind == "json"]
    if json_models:
        keys |= _object_keys(queryset.across(*json_models), "pgh_context_metadata")  # type: ignore[attr-defined]
    return sorted(keys)


def neutralise(cell: str) -> str:
    """Defuse spreadsheet formula injection (CSV injection).

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run as a
    formula by Excel, LibreOffice or Google Sheets; such a cell gets a leading ``'`` so it shows
    as text. This applies to every cell, headers and negative numbers (``-2``) included.
    """
    return f"'{cell}" if cell.startswith(FORMULA_PREFIXES) else cell


def _object_keys(queryset: models.QuerySet[Any], column: str) -> set[str]:
    # jsonb_object_keys() raises on non-objects; WHERE runs before the set-returning SELECT.
    rows = (
        queryset.order_by()
        .alias(_pgh_type=_JSONType(column))
        .filter(_pgh_type="object")
        .annotate(_pgh_key=_ObjectKeys(column))
        .values_list("_pgh_key", flat=True)
        .distinct()
    )
    return set(rows)
