"""Index types of event tables."""

from __future__ import annotations

from typing import Any

from django.db import models


class EventBrinIndex(models.Index):
    """A BRIN index: tiny and nearly free to maintain on append-mostly, time-ordered tables.

    Declared here rather than with ``django.contrib.postgres.indexes.BrinIndex`` so projects
    need not install ``django.contrib.postgres``.
    """

    suffix = "brn"

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        return super().create_sql(model, schema_editor, using=" USING brin", **kwargs)


class JSONPathGinIndex(models.Index):
    """A GIN index with ``jsonb_path_ops``: answers ``@>`` containment tests on JSON metadata."""

    suffix = "gin"

    def __init__(self, *, fields: list[str], name: str) -> None:
        super().__init__(fields=fields, name=name, opclasses=["jsonb_path_ops"] * len(fields))

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        return super().create_sql(model, schema_editor, using=" USING gin", **kwargs)

    def deconstruct(self) -> Any:
        path, args, kwargs = super().deconstruct()
        kwargs.pop("opclasses", None)
        return path, args, kwargs
