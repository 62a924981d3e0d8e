"""Generation of event models: ``create_event_model`` and the ``@track`` decorator.

The fields of the generated class come from ``event_fields``; this module names the class,
builds it, registers it (``registry``, ``pgh_event_models``) and installs its triggers when
Django prepares it. One concept, the lifecycle of an event model class, hence over 300 lines."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypedDict, Unpack

import pgtrigger
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.functions import Cast
from django.db.models.signals import class_prepared
from django.utils.text import slugify

from pghistory_core import config, event_fields, guards, registry
from pghistory_core.fields import UNSET
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


class CompositePrimaryKeyError(ImproperlyConfigured, ValueError):
    """A model with a composite primary key cannot be tracked. A ValueError, as in 3.x, and
    an ImproperlyConfigured (a configuration mistake found at startup)."""


def _check_trackable(tracked_model: type[models.Model]) -> None:
    opts = tracked_model._meta
    if opts.abstract:
        raise ImproperlyConfigured(f"Cannot track abstract model {tracked_model.__name__}.")
    composite = getattr(models, "CompositePrimaryKey", None)
    if composite is not None and isinstance(opts.pk, composite):
        raise CompositePrimaryKeyError(
            "Tracking models with composite primary keys is not supported. "
            f"Cannot track {opts.label}: it has a composite primary key, and every event must "
            "reference one tracked row (pgh_obj). Give the model a single-column primary key "
            "(e.g. an id) and a UniqueConstraint over the composite fields."
        )


def _event_model_module(tracked_model: type[models.Model], app_label: str | None) -> str:
    """The module an event model is declared in: the tracked model's, or the models module of
    ``app_label``. A model of Django itself needs an ``app_label`` of the project (the
    migration would land in Django's own app), as in django-pghistory 3.x."""
    from django.apps import apps

    if app_label is None or app_label == tracked_model._meta.app_label:
        if tracked_model.__module__.startswith("django."):
            raise ValueError(
                f"Tracking {tracked_model._meta.label} would create its event model in Django's "
                f"app {tracked_model._meta.app_label!r}: pass app_label= naming an app of your "
                "project (or track a proxy model declared in it)."
            )
        return tracked_model.__module__
    if app_label not in apps.app_configs:
        raise ValueError(f"track(app_label={app_label!r}): no installed app has that label.")
    return f"{apps.app_configs[app_label].name}.models"


def _pascalcase(text: str) -> str:
    text = re.sub(r"^[\-_\.]", "", text)
    if not text:
        return text
    return text[0].upper() + re.sub(r"[\-_\.\s]([a-z])", lambda m: m.group(1).upper(), text[1:])


def default_model_name(
    tracked_model: type[models.Model], base_model: type[models.Model], fields: Iterable[str] | None
) -> str:
    """django-pghistory 3.x's default name: ``BookEvent``, ``BookPriceEvent`` for ``fields=["price"]``."""
    name = tracked_model._meta.object_name or tracked_model.__name__
    if fields:
        name += "_" + "_".join(fields)
    return _pascalcase(f"{name}_{(base_model._meta.object_name or '').lower()}")


def default_related_name(base_model: type[models.Model], fields: Iterable[str] | None) -> str:
    """django-pghistory 3.x's default ``related_name`` of ``pgh_obj``: ``events``, or
    ``price_events`` / ``name_price_events`` for an event model of some fields."""
    plural = slugify(str(base_model._meta.verbose_name_plural)).replace("-", "_")
    return "_".join(fields) + f"_{plural}" if fields else plural


def proxy_expression(model: type[models.Model], proxy: models.Field[Any, Any]) -> Any:
    """An ORM expression for a ``ProxyField`` path: relations first, then JSON keys."""
    from django.db.models.fields.json import KeyTextTransform, KeyTransform

    path: str = proxy.pgh_proxy  # type: ignore[attr-defined]
    parts = path.split("__")
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
            output: Any = proxy
            if isinstance(output, models.ForeignKey):
                output = output.target_field
            return Cast(expression, output_field=output)
        if field.is_relation and field.related_model is not None:
            current = field.related_model
    target: Any = proxy.target_field if isinstance(proxy, models.ForeignKey) else proxy
    return Cast(models.F(path), output_field=target)


def _proxy_manager(proxies: dict[str, models.Field[Any, Any]]) -> models.Manager[Any]:
    class ProxyManager(models.Manager[Any]):
        def get_queryset(self) -> models.QuerySet[Any]:
            annotations = {
                name: proxy_expression(self.model, proxy) for name, proxy in proxies.items()
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

    base = base_model or config.base_model()
    if fields is not None:
        fields = list(fields)
    model_name = model_name or default_model_name(tracked_model, base, fields)
    module = _event_model_module(tracked_model, app_label)
    app_label = app_label or tracked_model._meta.app_label
    tracked = event_fields.tracked_fields(tracked_model, fields, exclude)
    reserved = [f.name for f in tracked if f.name.startswith("pgh_")]
    if reserved:
        raise ValueError(f"{tracked_model.__name__}: fields starting with pgh_ clash: {reserved}.")

    obj_setting = config.obj_field() if obj_field is UNSET else obj_field
    context_setting = config.context_field() if context_field is UNSET else context_field
    context_id_setting = (
        config.context_id_field() if context_id_field is UNSET else context_id_field
    )
    context_kind, context_attrs = event_fields.context_fields(context_setting, context_id_setting)
    obj = event_fields.obj_field(
        tracked_model,
        obj_setting,
        model_name,
        default_related_name(base, fields),
        app_label,
        module,
        # An abstract result keeps 3.x's name: it adds no accessor until a subclass is
        # declared, which may set its own (obj_field=ObjForeignKey(related_name=...)).
        keep_taken=abstract,
    )

    chained = config.hash_chain() if hash_chain is UNSET else bool(hash_chain)
    attrs = dict(attrs or {})
    proxies = {name: value for name, value in attrs.items() if hasattr(value, "pgh_proxy")}
    for name in proxies:
        del attrs[name]

    indexes: list[models.Index] = [EventBrinIndex(fields=["pgh_created_at"])]
    if obj is not None:
        indexes.append(models.Index(fields=["pgh_obj", "pgh_id"]))
    meta_attrs = {"app_label": app_label, "abstract": abstract, "indexes": indexes, **(meta or {})}
    class_attrs: dict[str, Any] = {
        "__module__": module,
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
        **{f.name: event_fields.copy_field(f, tracked_model) for f in tracked},
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
    event_model = type(model_name, (base,), class_attrs)
    if not abstract:
        # As django-pghistory 3.x: the generated model is importable from its module.
        module_obj = sys.modules.get(event_model.__module__)
        if module_obj is not None and not hasattr(module_obj, model_name):
            setattr(module_obj, model_name, event_model)
    return event_model


def setup_event_model(event_model: type[Any]) -> None:
    """Install the triggers of a concrete event model (once)."""
    opts = event_model._meta
    if opts.abstract or opts.proxy or not opts.managed or "_pgh_ready" in vars(event_model):
        # A proxy (e.g. with ProxyFields) reads the same table: no triggers of its own.
        return
    event_model._pgh_ready = True
    registry.register(event_model)
    _register_event_model(event_model)
    for tracker in event_model.pgh_trackers:
        tracker.setup(event_model)
    if getattr(event_model, "pgh_append_only", False):
        pgtrigger.register(guards.AppendOnly(), guards.AppendOnlyTruncate())(event_model)
    if getattr(event_model, "pgh_hash_chain", False):
        context = column(event_model, "pgh_context") if has_snapshot(event_model) else None
        pgtrigger.register(HashChainTrigger(context_column=context))(event_model)


class _SingleEventModel:
    """``Model.pgh_event_model``: the tracked model's only event model (3.x's descriptor)."""

    def __get__(self, instance: Any, owner: type[Any]) -> type[Any]:
        found = set(owner.pgh_event_models.values())
        if len(found) > 1:
            raise ValueError(
                f"{owner.__name__} has more than one event model. Use "
                f"{owner.__name__}.pgh_event_models[label] to pick one by tracker label."
            )
        if len(found) != 1:
            raise ValueError(
                f"{owner.__name__} has {len(found)} event models; use "
                f"{owner.__name__}.pgh_event_models[label] to pick one by tracker label."
            )
        return found.pop()


def _register_event_model(event_model: type[Any]) -> None:
    """``pgh_event_models`` (tracker label -> event model) and ``pgh_event_model`` on the
    tracked model, as django-pghistory 3.x sets them. Each class gets its own mapping (a child
    of multi-table inheritance does not write into its parent's)."""
    tracked = event_model.pgh_tracked_model
    if "pgh_event_models" not in vars(tracked):
        tracked.pgh_event_models = {}
    if "pgh_event_model" not in vars(tracked):
        tracked.pgh_event_model = _SingleEventModel()
    registered: dict[str, Any] = tracked.pgh_event_models
    for tracker in event_model.pgh_trackers:
        other = registered.get(tracker.label)
        if (
            other is not None
            and other is not event_model
            and other.__name__ != event_model.__name__
        ):
            raise ValueError(
                f'Tracker with label "{tracker.label}" already exists for a different event '
                f'model of "{tracked._meta.label}" ({other.__name__} and '
                f"{event_model.__name__}). Supply a different label as the first argument to "
                "the tracker."
            )
        registered[tracker.label] = event_model


def _on_class_prepared(sender: type[Any], **kwargs: Any) -> None:
    # Only our event models: django-pghistory's have a pgh_tracked_model attribute too. The
    # models module is read from sys.modules because this runs while it is being imported.
    event_base = getattr(sys.modules.get("pghistory_core.models"), "Event", None)
    if event_base is None or not issubclass(sender, event_base):
        return
    if getattr(sender, "pgh_tracked_model", None) is not None and not sender._meta.abstract:
        setup_event_model(sender)


class_prepared.connect(_on_class_prepared, dispatch_uid="pghistory_core_event_models")


class EventModelOptions(TypedDict, total=False):
    """The keyword arguments of ``create_event_model()`` that ``track()`` passes on."""

    fields: Iterable[str] | None
    exclude: Iterable[str] | None
    obj_field: Any
    context_field: Any
    context_id_field: Any
    append_only: Any
    hash_chain: Any
    model_name: str | None
    app_label: str | None
    base_model: type[models.Model] | None
    attrs: dict[str, Any] | None
    meta: dict[str, Any] | None
    level: Any


def track(
    *trackers: Tracker, **options: Unpack[EventModelOptions]
) -> Callable[[type[models.Model]], type[models.Model]]:
    """Track a model: generates ``<Model>Event`` and the triggers that fill it.

    Takes the trackers and keyword arguments of ``create_event_model()`` (``fields``,
    ``exclude``, ``obj_field``, ``context_field``, ``model_name``, ``level``...), which it
    calls with ``abstract=False``. Example::

        @pghistory_core.track(pghistory_core.InsertEvent(), pghistory_core.UpdateEvent())
        class Product(models.Model): ...
    """

    def decorator(tracked_model: type[models.Model]) -> type[models.Model]:
        create_event_model(tracked_model, *trackers, abstract=False, **options)
        return tracked_model

    return decorator
