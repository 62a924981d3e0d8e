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
