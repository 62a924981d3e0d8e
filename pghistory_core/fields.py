"""Field configurations: how ``pgh_*`` fields and copies of tracked fields are built."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.expressions import Func, Value


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: Marks an argument that was not given, so the setting or the tracked field decides.
UNSET: Any = _Unset()


class Field:
    """Keyword arguments applied to the copy of a tracked field on the event model.

    Arguments left ``UNSET`` keep the tracked field's value. By default uniqueness,
    primary keys and indexes are removed: an event table holds many versions of a row.
    """

    _defaults: dict[str, Any] = {
        "primary_key": False,
        "unique": False,
        "db_index": False,
        "unique_for_date": None,
        "unique_for_month": None,
        "unique_for_year": None,
    }

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments this configuration sets, defaults of its class included."""
        merged: dict[str, Any] = {}
        for klass in reversed(type(self).__mro__):
            merged.update(vars(klass).get("_defaults", {}))
        merged.update(self._kwargs)
        return {key: value for key, value in merged.items() if value is not UNSET}


class RelatedField(Field):
    """Configuration of copied relations: no reverse accessors on the target model."""

    _defaults = {"related_name": "+", "related_query_name": "+"}


class ForeignKey(RelatedField):
    """Configuration of copied foreign keys: no database constraint, nothing cascades."""

    _defaults = {"on_delete": models.DO_NOTHING, "db_constraint": False}


class ObjForeignKey(ForeignKey):
    """Configuration of ``pgh_obj``: survives the tracked row's deletion."""

    _defaults = {
        "related_name": "events",
        "related_query_name": UNSET,
        "db_index": False,
        "null": False,
    }


class ContextForeignKey(ForeignKey):
    """``pgh_context`` as a foreign key to :class:`pghistory_core.models.Context`."""

    _defaults = {"null": True, "related_query_name": UNSET, "db_index": True}


class ContextJSONField(Field):
    """``pgh_context`` as the context's metadata, denormalised into each event row."""

    _defaults = {"null": True}


class ContextUUIDField(Field):
    """``pgh_context_id`` as a plain UUID next to a :class:`ContextJSONField`."""

    _defaults = {"null": True}


class NextEventId(Func):
    """``nextval()`` of the sequence shared by all event tables."""

    function = "nextval"
    output_field = models.BigIntegerField()

    def __init__(self) -> None:
        from pghistory_core.config import EVENT_ID_SEQUENCE

        super().__init__(Value(EVENT_ID_SEQUENCE))

    def deconstruct(self) -> Any:
        return ("pghistory_core.fields.NextEventId", (), {})


class ProxyField:
    """Expose a value found at a path of related fields or JSON keys on an event model.

    ``ProxyField("pgh_context__metadata__user", models.ForeignKey(User, ...))`` adds a
    ``user`` attribute filterable through the ORM without adding a column.
    """

    def __init__(self, proxy: str, field: models.Field[Any, Any]) -> None:
        if not isinstance(proxy, str) or not proxy:
            raise ValueError("ProxyField needs the path of the value it proxies, e.g. 'a__b'.")
        self.proxy = proxy
        self.field = field
