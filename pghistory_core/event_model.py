"""Generation of event models: ``create_event_model`` and the ``@track`` decorator."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterable
from typing import Any

import pgtrigger
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.db.models.functions import Cast
from django.db.models.signals import class_prepared

from pghistory_core import config, guards
from pghistory_core import fields as config_fields
from pghistory_core.fields import UNSET, ProxyField
from pghistory_core.hash_chain import (
    HASH_FIELD,
    SEAL_FIELD,
    SNAPSHOT_FIELD,
    HashChainTrigger,
    has_snapshot,
)
from pghistory_core.indexes import EventBrinIndex
from pghistory_core.meta import column
from pghistory_core.trackers import InsertEvent, Tracker, UpdateEvent

_AUTO_TO_PLAIN: dict[type[models.Field[Any, Any]], type[models.Field[Any, Any]]] = {
    models.SmallAutoField: models.SmallIntegerField,
    models.BigAutoField: models.BigIntegerField,
    models.AutoField: models.IntegerField,
}
_DROPPED_KWARGS = ("db_default", "serialize", "parent_link", "auto_created", "db_comment")


def _check_trackable(tracked_model: type[models.Model]) -> None:
    opts = tracked_model._meta
    if opts.abstract:
        raise ImproperlyConfigured(f"Cannot track abstract model {tracked_model.__name__}.")
    composite = getattr(models, "CompositePrimaryKey", None)
    if composite is not None and isinstance(opts.pk, composite):
        raise ImproperlyConfigured(
            f"Cannot track {opts.label}: it has a composite primary key, and every event must "
            "reference one tracked row (pgh_obj). Give the model a single-column primary key "
            "(e.g. an id) and a UniqueConstraint over the composite fields."
        )


def _tracked_fields(
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


def _copy_field(field: models.Field[Any, Any], tracked_model: type[models.Model]) -> Any:
    """A copy of a tracked field for the event table: no uniqueness, no constraints."""
    if isinstance(field, models.GeneratedField) and field.output_field is not None:
        field = field.output_field
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
    return field_class(*args, **kwargs)


def _obj_field(
    tracked_model: type[models.Model], setting: config_fields.ObjForeignKey | None, model_name: str
) -> models.ForeignKey[Any, Any] | None:
    if setting is None:
        return None
    kwargs = setting.kwargs
    related_name = kwargs.get("related_name")
    if related_name and related_name != "+" and hasattr(tracked_model, related_name):
        # A second event model of the same tracked model: give it its own accessor.
        kwargs["related_name"] = f"{model_name.lower()}_events"
    return models.ForeignKey(tracked_model, **kwargs)


def _context_fields(context_field: Any, context_id_field: Any) -> tuple[str | None, dict[str, Any]]:
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


def _proxy_expression(model: type[models.Model], proxy: ProxyField) -> Any:
    """An ORM expression for a ``ProxyField`` path: relations first, then JSON keys."""
    from django.db.models.fields.json import KeyTextTransform, KeyTransform

    parts = proxy.proxy.split("__")
    current: Any = model
    for index, part in enumerate(parts):
        field = current._meta.get_field(part)
        if isinstance(field, models.JSONField):
            keys = parts[index + 1 :]
            expression: Any = models.F("__".join(parts[: index + 1]))
            for key in keys[:-1]:
                expression = KeyTransform(key, expression)
            if keys:
                expression = KeyTextTransform(keys[-1], expression)
            output = proxy.field
            if isinstance(output, models.ForeignKey):
                output = output.target_field
            return Cast(expression, output_field=output)
        if field.is_relation and field.related_model is not None:
            current = field.related_model
    return Cast(models.F(proxy.proxy), output_field=proxy.field)


def _proxy_manager(proxies: dict[str, ProxyField]) -> models.Manager[Any]:
    class ProxyManager(models.Manager[Any]):
        def get_queryset(self) -> models.QuerySet[Any]:
            annotations = {
                name: _proxy_expression(self.model, proxy) for name, proxy in proxies.items()
            }
            return super().get_queryset().annotate(**annotations)

    return ProxyManager()


def create_event_model(
    tracked_model: type[models.Model],
    *trackers: Tracker,
    fields: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    obj_field: Any = UNSET,
    context_field: Any = UNSET,
    context_id_field: Any = UNSET,
    append_only: Any = UNSET,
    hash_chain: Any = UNSET,
    model_name: str | None = None,
    app_label: str | None = None,
    base_model: type[models.Model] | None = None,
    attrs: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    abstract: bool = True,
    level: Any = UNSET,
) -> type[Any]:
    """Create the event model class of ``tracked_model`` (abstract by default).

    ``track()`` calls it with ``abstract=False``; declare a subclass of an abstract result to
    add methods or fields of your own.
    """
    _check_trackable(tracked_model)
    for tracker in trackers:
        if not isinstance(tracker, Tracker):
            raise TypeError(f"track() takes trackers (InsertEvent(), ...), not {tracker!r}.")
    trackers = tuple(trackers) or tuple(config.default_trackers() or (InsertEvent(), UpdateEvent()))
    labels = [tracker.label for tracker in trackers]
    if len(set(labels)) != len(labels):
        raise ValueError(f"Trackers of {tracked_model.__name__} reuse a label: {labels}.")

    model_name = model_name or f"{tracked_model.__name__}Event"
    app_label = app_label or tracked_model._meta.app_label
    tracked = _tracked_fields(tracked_model, fields, exclude)
    reserved = [f.name for f in tracked if f.name.startswith("pgh_")]
    if reserved:
        raise ValueError(f"{tracked_model.__name__}: fields starting with pgh_ clash: {reserved}.")

    obj_setting = config.obj_field() if obj_field is UNSET else obj_field
    context_setting = config.context_field() if context_field is UNSET else context_field
    context_id_setting = (
        config.context_id_field() if context_id_field is UNSET else context_id_field
    )
    context_kind, context_attrs = _context_fields(context_setting, context_id_setting)
    obj = _obj_field(tracked_model, obj_setting, model_name)

    chained = config.hash_chain() if hash_chain is UNSET else bool(hash_chain)
    attrs = dict(attrs or {})
    proxies = {name: value for name, value in attrs.items() if isinstance(value, ProxyField)}
    for name in proxies:
        del attrs[name]

    indexes: list[models.Index] = [EventBrinIndex(fields=["pgh_created_at"])]
    if obj is not None:
        indexes.append(models.Index(fields=["pgh_obj", "pgh_id"]))
    meta_attrs = {"app_label": app_label, "abstract": abstract, "indexes": indexes, **(meta or {})}
    class_attrs: dict[str, Any] = {
        "__module__": tracked_model.__module__,
        "Meta": type("Meta", (), meta_attrs),
        "pgh_tracked_model": tracked_model,
        "pgh_tracked_fields": [f.name for f in tracked],
        "pgh_trackers": list(trackers),
        "pgh_context_kind": context_kind,
        "pgh_has_context_id": "pgh_context_id" in context_attrs,
        "pgh_has_obj": obj is not None,
        "pgh_level": None if level is UNSET else level,
        "pgh_append_only": config.append_only() if append_only is UNSET else bool(append_only),
        "pgh_hash_chain": chained,
        **{f.name: _copy_field(f, tracked_model) for f in tracked},
        **context_attrs,
        **attrs,
    }
    if obj is not None:
        class_attrs["pgh_obj"] = obj
    if chained:
        class_attrs[HASH_FIELD] = models.CharField(
            max_length=64, null=True, editable=False, help_text="SHA-256 chaining this event."
        )
        class_attrs[SEAL_FIELD] = models.JSONField(
            null=True,
            editable=False,
            help_text="On the first chained event: the events held before the chain started.",
        )
        if context_kind == "fk":
            class_attrs[SNAPSHOT_FIELD] = models.JSONField(
                null=True,
                editable=False,
                help_text="The context metadata when this event was written (chained).",
            )
    if proxies:
        class_attrs["objects"] = _proxy_manager(proxies)
    base = base_model or config.base_model()
    return type(model_name, (base,), class_attrs)


def setup_event_model(event_model: type[Any]) -> None:
    """Install the triggers of a concrete event model (once)."""
    if event_model._meta.abstract or "_pgh_ready" in vars(event_model):
        return
    event_model._pgh_ready = True
    for tracker in event_model.pgh_trackers:
        tracker.setup(event_model)
    if getattr(event_model, "pgh_append_only", False):
        pgtrigger.register(guards.AppendOnly(), guards.AppendOnlyTruncate())(event_model)
    if getattr(event_model, "pgh_hash_chain", False):
        context = column(event_model, "pgh_context") if has_snapshot(event_model) else None
        pgtrigger.register(HashChainTrigger(context_column=context))(event_model)


def _on_class_prepared(sender: type[Any], **kwargs: Any) -> None:
    # Only our event models: django-pghistory's have a pgh_tracked_model attribute too. The
    # models module is read from sys.modules because this runs while it is being imported.
    event_base = getattr(sys.modules.get("pghistory_core.models"), "Event", None)
    if event_base is None or not issubclass(sender, event_base):
        return
    if getattr(sender, "pgh_tracked_model", None) is not None and not sender._meta.abstract:
        setup_event_model(sender)


class_prepared.connect(_on_class_prepared, dispatch_uid="pghistory_core_event_models")


def track(
    *trackers: Tracker,
    fields: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    obj_field: Any = UNSET,
    context_field: Any = UNSET,
    context_id_field: Any = UNSET,
    append_only: Any = UNSET,
    hash_chain: Any = UNSET,
    model_name: str | None = None,
    app_label: str | None = None,
    base_model: type[models.Model] | None = None,
    attrs: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    level: Any = UNSET,
) -> Callable[[type[models.Model]], type[models.Model]]:
    """Track a model: generates ``<Model>Event`` and the triggers that fill it.

    Example::

        @pghistory_core.track(pghistory_core.InsertEvent(), pghistory_core.UpdateEvent())
        class Product(models.Model): ...
    """

    def decorator(tracked_model: type[models.Model]) -> type[models.Model]:
        event_model = create_event_model(
            tracked_model,
            *trackers,
            fields=fields,
            exclude=exclude,
            obj_field=obj_field,
            context_field=context_field,
            context_id_field=context_id_field,
            append_only=append_only,
            hash_chain=hash_chain,
            model_name=model_name,
            app_label=app_label,
            base_model=base_model,
            attrs=attrs,
            meta=meta,
            abstract=False,
            level=level,
        )
        module = sys.modules[tracked_model.__module__]
        if not hasattr(module, event_model.__name__):
            setattr(module, event_model.__name__, event_model)
        return tracked_model

    return decorator
