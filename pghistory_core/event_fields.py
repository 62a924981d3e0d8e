"""The fields of a generated event model: copies of the tracked fields, ``pgh_obj`` and the
context fields, each configured by ``fields.py``'s classes and the ``PGHISTORY_*`` settings."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from pghistory_core import config
from pghistory_core import fields as config_fields
from pghistory_core.through import proxy_of

__all__ = ["context_fields", "copy_field", "obj_field", "tracked_fields"]

_AUTO_TO_PLAIN: dict[type[models.Field[Any, Any]], type[models.Field[Any, Any]]] = {
    models.SmallAutoField: models.SmallIntegerField,
    models.BigAutoField: models.BigIntegerField,
    models.AutoField: models.IntegerField,
}
_DROPPED_KWARGS = ("db_default", "serialize", "parent_link", "auto_created", "db_comment")


def tracked_fields(
    tracked_model: type[models.Model], fields: Iterable[str] | None, exclude: Iterable[str] | None
) -> list[models.Field[Any, Any]]:
    if fields is not None and exclude is not None:
        raise ValueError("Pass either fields= or exclude= to track(), not both.")
    opts = tracked_model._meta
    concrete = list(opts.concrete_fields)
    names = {field.name for field in concrete} | {field.attname for field in concrete}
    for name in [*(fields or []), *(exclude or [])]:
        if name not in names:
            raise FieldDoesNotExist(
                f"{opts.label} has no concrete field {name!r} to track "
                f"(choices: {', '.join(sorted(f.name for f in concrete))})."
            )
    if fields is not None:
        wanted = set(fields)
        return [f for f in concrete if f.name in wanted or f.attname in wanted]
    excluded = set(exclude or [])
    return [f for f in concrete if f.name not in excluded and f.attname not in excluded]


def _copy_generated_field(field: models.GeneratedField) -> models.GeneratedField:
    """As django-pghistory 3.x: the event table computes the generated column itself from the
    event's copied columns (the triggers leave it out of their INSERT). The event model keeps
    the same declaration, so a 3.x event table needs no migration."""
    _, _, args, kwargs = field.deconstruct()
    for name in _DROPPED_KWARGS:
        kwargs.pop(name, None)
    kwargs.pop("unique", None)
    kwargs.pop("primary_key", None)
    kwargs["db_column"] = field.column
    return models.GeneratedField(*args, **kwargs)


def copy_field(field: models.Field[Any, Any], tracked_model: type[models.Model]) -> Any:
    """A copy of a tracked field for the event table: no uniqueness, no constraints."""
    if isinstance(field, models.GeneratedField):
        return _copy_generated_field(field)
    if field.is_relation:
        # Deconstructing a relation asks the app registry about swappable models, which is
        # not ready while models are being declared; the copy keeps its own swappable logic.
        field = copy.copy(field)
        field.swappable = False  # type: ignore[attr-defined]
    _, _, args, kwargs = field.deconstruct()
    field_class: type[Any] = type(field)
    for auto, plain in _AUTO_TO_PLAIN.items():
        if isinstance(field, auto):
            field_class = plain
            break
    if isinstance(field, models.OneToOneField):
        field_class = models.ForeignKey
    for name in _DROPPED_KWARGS:
        kwargs.pop(name, None)
    kwargs.pop("auto_now", None)
    kwargs.pop("auto_now_add", None)
    if field.is_relation:
        kwargs.pop("related_name", None)
        kwargs.pop("related_query_name", None)
        target = kwargs.get("to")
        if isinstance(target, str) and "." not in target:
            kwargs["to"] = f"{tracked_model._meta.app_label}.{target}"
        config_kwargs = (
            config.foreign_key_field().kwargs
            if field.many_to_one or field.one_to_one
            else config.related_field().kwargs
        )
    else:
        config_kwargs = config.field().kwargs
    kwargs.update(config_kwargs)
    kwargs["db_column"] = field.column
    for name in _excluded_kwargs(field):
        kwargs.pop(name, None)
    return field_class(*args, **kwargs)


def _excluded_kwargs(field: models.Field[Any, Any]) -> list[str]:
    """Arguments a field class refuses (fields.E201 for a file field's ``primary_key``), plus
    ``PGHISTORY_EXCLUDE_FIELD_KWARGS``, as django-pghistory 3.x drops them."""
    names = ["primary_key"] if isinstance(field, models.FileField) else []
    for field_class, excluded in config.exclude_field_kwargs().items():
        if isinstance(field, field_class):
            names.extend(excluded)
    return names


def obj_field(
    tracked_model: type[models.Model],
    setting: config_fields.ObjForeignKey | None,
    model_name: str,
    related_name: str,
    app_label: str,
    module: str,
    keep_taken: bool = False,
) -> models.ForeignKey[Any, Any] | None:
    if setting is None:
        return None
    if not isinstance(setting, config_fields.ObjForeignKey):
        raise TypeError(f"obj_field must be an ObjForeignKey() or None, not {setting!r}.")
    target = tracked_model
    if tracked_model._meta.auto_created:
        # Django allows no foreign key to an auto-created through model, but one to a proxy
        # of it: the proxy that holds the triggers (through.py).
        target = proxy_of(tracked_model, app_label, module)
    kwargs = setting.kwargs
    if "related_name" not in kwargs:
        kwargs["related_name"] = related_name
        if hasattr(target, related_name) and not keep_taken:
            # django-pghistory 3.x fails the system checks here (fields.E304: a parent model of
            # multi-table inheritance, or a second event model of the same fields): give this
            # one an accessor of its own instead.
            kwargs["related_name"] = f"{model_name.lower()}_events"
    return models.ForeignKey(target, **kwargs)


def context_fields(context_field: Any, context_id_field: Any) -> tuple[str | None, dict[str, Any]]:
    if context_field is None:
        return None, {}
    if isinstance(context_field, config_fields.ContextJSONField):
        result: dict[str, Any] = {
            "pgh_context": models.JSONField(encoder=config.json_encoder(), **context_field.kwargs)
        }
        if context_id_field is not None:
            result["pgh_context_id"] = models.UUIDField(**context_id_field.kwargs)
        return "json", result
    if isinstance(context_field, config_fields.ContextForeignKey):
        return "fk", {
            "pgh_context": models.ForeignKey("pghistory_core.Context", **context_field.kwargs)
        }
    raise TypeError("context_field must be ContextForeignKey(), ContextJSONField() or None.")
