"""The models django-pghistory 3.x's migrations leave in a project's migration state.

``Context`` is its table ``pghistory_context``, which keeps the contexts recorded before the
switch (``pghistory_adopt_3x`` copies them to ``pghistory_core_context``). ``Events`` and
``MiddlewareEvents`` were views computed in queries (unmanaged); they exist here only so that
migrations referring to them still load. None of them is used by ``pghistory_core``.
"""

from __future__ import annotations

import uuid

from django.db import models


class Context(models.Model):
    """A context recorded by django-pghistory 3.x (table ``pghistory_context``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    metadata = models.JSONField(default=dict)

    def __str__(self) -> str:
        return str(self.id)


class Events(models.Model):
    """django-pghistory 3.x's aggregate of events (never queried here)."""

    pgh_slug = models.TextField(primary_key=True)
    pgh_model = models.CharField(max_length=64)
    pgh_id = models.BigIntegerField()
    pgh_created_at = models.DateTimeField(auto_now_add=True)
    pgh_label = models.TextField()
    pgh_data = models.JSONField()
    pgh_diff = models.JSONField()
    pgh_context_id = models.UUIDField(null=True)
    pgh_context = models.JSONField(null=True)
    pgh_obj_model = models.CharField(max_length=64)
    pgh_obj_id = models.TextField(null=True)  # noqa: DJ001 - the shape 3.x declared

    class Meta:
        managed = False
        verbose_name_plural = "events"

    def __str__(self) -> str:
        return self.pgh_slug


class MiddlewareEvents(Events):
    """django-pghistory 3.x's proxy of ``Events`` (never queried here)."""

    class Meta:
        proxy = True
        verbose_name_plural = "middleware events"
