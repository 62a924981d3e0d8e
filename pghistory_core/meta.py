"""Typed access to model metadata (``_meta.get_field`` also returns reverse relations)."""

from __future__ import annotations

from typing import Any, cast

from django.db import models


def field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """The concrete field ``name`` of ``model``."""
    return cast("models.Field[Any, Any]", model._meta.get_field(name))


def column(model: type[models.Model], name: str) -> str:
    """The database column of field ``name`` of ``model``."""
    value = field(model, name).column
    if value is None:  # pragma: no cover - only concrete fields are asked for
        raise ValueError(f"{model.__name__}.{name} has no column.")
    return value


def pk(model: type[models.Model]) -> models.Field[Any, Any]:
    """The primary key field of ``model``."""
    value = model._meta.pk
    if value is None:  # pragma: no cover - every concrete model has one
        raise ValueError(f"{model.__name__} has no primary key.")
    return value


def concrete(model: type[models.Model]) -> type[models.Model]:
    """The concrete model behind a proxy (or the model itself)."""
    return model._meta.concrete_model or model
