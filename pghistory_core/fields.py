"""Field configurations: how ``pgh_*`` fields and copies of tracked fields are built."""

from __future__ import annotations

from typing import Any, TypeVar

from django.conf import settings
from django.db import models
from django.db.models.expressions import Func, Value

from pghistory_core.constants import DEFAULT, EVENT_ID_SEQUENCE, UNSET

_F = TypeVar("_F", bound="models.Field[Any, Any]")

__all__ = [
    "DEFAULT",
    "UNSET",
    "ContextForeignKey",
    "ContextJSONField",
    "ContextUUIDField",
    "Field",
    "ForeignKey",
    "ObjForeignKey",
    "ProxyField",
    "RelatedField",
]


class Field:
    """Keyword arguments applied to the copy of a tracked field on the event model.

    By default uniqueness, primary keys and indexes are removed: an event table holds many
    versions of a row. A value of ``DEFAULT`` keeps the tracked field's own value
    (``Field(db_index=DEFAULT)``). As in django-pghistory 3.x, configurations inherit along a
    hierarchy: ``Field`` defaults, then ``PGHISTORY_FIELD``, ``RelatedField`` defaults, then
    ``PGHISTORY_RELATED_FIELD``, ``ForeignKey`` defaults, then ``PGHISTORY_FOREIGN_KEY_FIELD``,
    then the arguments of this configuration.
    """

    _defaults: dict[str, Any] = {
        "primary_key": False,
        "unique": False,
        "db_index": False,
        "unique_for_date": None,
        "unique_for_month": None,
        "unique_for_year": None,
    }
    #: The ``PGHISTORY_<name>`` setting whose configuration this level inherits (read here, not
    #: through ``config``, which re-exports these classes; unset means no inherited arguments).
    _setting: str | None = "FIELD"

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments this configuration sets, inherited ones included."""
        merged: dict[str, Any] = {}
        for klass in reversed(type(self).__mro__):
            merged.update(vars(klass).get("_defaults", {}))
            setting = vars(klass).get("_setting")
            if setting:
                configured = getattr(settings, f"PGHISTORY_{setting}", None)
                if configured is not None and configured is not self:
                    merged.update(configured._kwargs)
        merged.update(self._kwargs)
        return {
            key: value
            for key, value in merged.items()
            if value is not UNSET and value is not DEFAULT
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self._kwargs.items())
        return f"{type(self).__name__}({args})"


class RelatedField(Field):
    """Configuration of copied relations: no reverse accessors on the target model."""

    _defaults = {"related_name": "+", "related_query_name": "+"}
    _setting: str | None = "RELATED_FIELD"


class ForeignKey(RelatedField):
    """Configuration of copied foreign keys: no database constraint, nothing cascades; indexed
    (``db_index=True``), as in django-pghistory 3.x."""

    _defaults = {"on_delete": models.DO_NOTHING, "db_constraint": False, "db_index": True}
    _setting: str | None = "FOREIGN_KEY_FIELD"


class ObjForeignKey(ForeignKey):
    """Configuration of ``pgh_obj``: survives the tracked row's deletion.

    ``related_name`` defaults, as in django-pghistory 3.x, to ``events`` for an event model of
    every field and to ``<field>_<field>_events`` for one of some fields.
    """

    _defaults = {
        "related_name": DEFAULT,
        "related_query_name": DEFAULT,
        "db_index": False,
        "null": False,
    }
    _setting: str | None = None


class ContextForeignKey(ForeignKey):
    """``pgh_context`` as a foreign key to :class:`pghistory_core.models.Context`."""

    _defaults = {"null": True, "related_query_name": DEFAULT, "db_index": True}
    _setting: str | None = None


class ContextJSONField(Field):
    """``pgh_context`` as the context's metadata, denormalised into each event row."""

    _defaults = {"null": True}
    _setting: str | None = None


class ContextUUIDField(Field):
    """``pgh_context_id`` as a plain UUID next to a :class:`ContextJSONField`."""

    _defaults = {"null": True}
    _setting: str | None = None


class NextEventId(Func):
    """``nextval()`` of the sequence shared by all event tables."""

    function = "nextval"
    output_field = models.BigIntegerField()

    def __init__(self) -> None:
        super().__init__(Value(EVENT_ID_SEQUENCE))

    def deconstruct(self) -> Any:
        return ("pghistory_core.fields.NextEventId", (), {})


def ProxyField(proxy: str, field: _F) -> _F:
    """Expose a value found at a path of related fields or JSON keys as ``field``.

    ``ProxyField("pgh_context__metadata__user", models.ForeignKey(User, ...))`` on an event
    model (or ``ProxyField("pgh_context__user", ...)`` on a proxy of ``Events``) adds a ``user``
    field that reads, filters and joins like a column, without adding one. Returns ``field``,
    marked with the path in ``field.pgh_proxy``, as django-pghistory 3.x does.
    """
    if not isinstance(proxy, str) or not proxy:
        raise ValueError("ProxyField needs the path of the value it proxies, e.g. 'a__b'.")
    if not isinstance(field, models.Field):
        raise TypeError(f"ProxyField needs a model field instance, not {field!r}.")
    field.pgh_proxy = proxy  # type: ignore[attr-defined]
    return field
