"""Models of the tracking layer: contexts, the abstract event, and the aggregate streams."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db import models

from pghistory_core import sql
from pghistory_core.aggregate import EventsManager, EventsQuerySet
from pghistory_core.event_query import EventManager, EventQuerySet
from pghistory_core.fields import NextEventId, ProxyField
from pghistory_core.guards import AttributionGuard, ContextGuard
from pghistory_core.indexes import JSONPathGinIndex
from pghistory_core.meta import field
from pghistory_core.revert import missing_fields, revert_event

__all__ = [
    "BaseEvents",
    "Context",
    "Event",
    "EventQuerySet",
    "Events",
    "EventsQuerySet",
    "MiddlewareEvents",
    "PGHistoryJSONField",
]

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pghistory_core.trackers import Tracker


#: 3.x's ``pghistory.models.PGHistoryJSONField``, which its older migrations name.
PGHistoryJSONField = models.JSONField


class Context(models.Model):
    """Who/what/where of a group of changes: one row per ``context()`` block or request."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    metadata = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="pghistory_core_ctx_created"),
            JSONPathGinIndex(fields=["metadata"], name="pghistory_core_ctx_metadata"),
        ]
        # A context may gain keys (nested contexts), never change or lose one, nor be deleted.
        # Nor claim a database session it was not written in (writes made outside Django).
        triggers = [ContextGuard(), AttributionGuard()]

    def __str__(self) -> str:
        return str(self.id)

    @classmethod
    def install_pgh_attach_context_func(cls, using: str = "default") -> None:
        """(Re)create the database functions the triggers use to attach contexts.

        django-pghistory 3.x's name, for test suites that create tables without migrations.
        """
        sql.install_functions(using)


class KeyChange(models.Model):
    """An UPDATE that changed a tracked row's primary key, written by the event trigger.

    Events follow their row by primary key (``pgh_obj``), so such an update starts a second
    history under the new key; this row links the two: the event recorded for the new key
    (``pgh_id`` of ``event_model``), the old key and the new one.
    """

    event_model = models.CharField(max_length=255, help_text="Label of the event model.")
    pgh_id = models.BigIntegerField(help_text="The event recorded under the new key.")
    old_obj_id = models.TextField()
    new_obj_id = models.TextField()

    class Meta:
        indexes = [
            models.Index(fields=["event_model", "pgh_id"], name="pghistory_core_key_event"),
            models.Index(fields=["event_model", "old_obj_id"], name="pghistory_core_key_old"),
        ]

    def __str__(self) -> str:
        return f"{self.event_model}: {self.old_obj_id} → {self.new_obj_id}"


class Event(models.Model):
    """Abstract base of every event model; generated models add the tracked fields."""

    pgh_id = models.BigIntegerField(primary_key=True, db_default=NextEventId(), editable=False)
    pgh_created_at = models.DateTimeField(auto_now_add=True)
    pgh_label = models.TextField(help_text="The event label.")

    objects = EventManager()

    pgh_tracked_model: ClassVar[type[models.Model]]
    pgh_tracked_fields: ClassVar[list[str]] = []
    pgh_trackers: ClassVar[list[Tracker]] = []
    pgh_context_kind: ClassVar[str | None] = None
    pgh_has_context_id: ClassVar[bool] = False
    pgh_has_obj: ClassVar[bool] = False
    pgh_level: ClassVar[Any] = None

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.pgh_label} #{self.pgh_id}"

    @property
    def pgh_data(self) -> dict[str, Any]:
        """The tracked values of this event, keyed by attribute name."""
        return {
            field(self.pgh_tracked_model, name).attname: getattr(
                self, field(type(self), name).attname
            )
            for name in self.pgh_tracked_fields
        }

    @property
    def can_revert(self) -> bool:
        """Whether this event holds every field of the tracked model (3.x's ``can_revert``):
        then it can also recreate a deleted row."""
        return not missing_fields(type(self))

    @classmethod
    def check(cls, **kwargs: Any) -> list[Any]:
        """A proxy may declare ``ProxyField``\\ s (fields read through a path), as in 3.x."""
        errors = super().check(**kwargs)
        local = cls._meta.local_fields
        if cls._meta.proxy and local and all(hasattr(f, "pgh_proxy") for f in local):
            errors = [error for error in errors if error.id != "models.E017"]
        return errors

    def revert(
        self,
        using: str | None = None,
        *,
        partial: bool = False,
        fields: Iterable[str] | None = None,
    ) -> models.Model:
        """Restore the tracked row to this event's values; recreates a deleted row.

        An event of some fields only refuses (``RuntimeError``, as in 3.x) unless
        ``partial=True`` or ``fields`` is given: then the fields it copies (or ``fields`` of
        them) are written back to the existing row.
        """
        return revert_event(self, using=using, partial=partial, fields=fields)


class NoObjectsManager(models.Manager[Any]):
    """A manager whose querysets are empty."""

    def get_queryset(self) -> models.QuerySet[Any]:
        return models.QuerySet(self.model, using=self._db).none()


class BaseEvents(models.Model):
    """Columns shared by the aggregate streams (django-pghistory 3.x's ``Events`` columns)."""

    pgh_id = models.BigIntegerField(primary_key=True)
    pgh_slug = models.TextField(help_text="'app_label.EventModel:pgh_id', unique across tables.")
    pgh_created_at = models.DateTimeField()
    pgh_label = models.TextField()
    pgh_model = models.TextField(help_text="The event model, as 'app_label.ModelName'.")
    pgh_obj_model = models.TextField(help_text="The tracked model, as 'app_label.ModelName'.")
    pgh_obj_id = models.TextField(null=True)  # noqa: DJ001 - NULL: the event model has no pgh_obj
    pgh_data = models.JSONField()
    pgh_diff = models.JSONField(null=True)
    pgh_context_id = models.UUIDField(null=True, help_text="The id of the event's context.")
    #: The context's metadata (a dict, as in django-pghistory 3.x): ``event.pgh_context["user"]``,
    #: ``filter(pgh_context__url="/")``. Computed for the rows returned, like ``pgh_diff``.
    pgh_context = models.JSONField(null=True)
    #: The same metadata under the name this project used first.
    pgh_context_metadata = models.JSONField(null=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.pgh_model} {self.pgh_label} #{self.pgh_id}"

    @property
    def pgh_event(self) -> models.Model:
        """The concrete event row behind this aggregate row."""
        from django.apps import apps

        return apps.get_model(self.pgh_model)._base_manager.get(pgh_id=self.pgh_id)

    @classmethod
    def check(cls, **kwargs: Any) -> list[Any]:
        """Proxies may declare fields read from the context (``ProxyField``), as in 3.x."""
        return [error for error in super().check(**kwargs) if error.id != "models.E017"]


class Events(BaseEvents):
    """Every event of every event model as one stream (a ``UNION ALL`` of the event tables).

    ``Events.objects.across(Model1Event, ...)`` narrows the models, ``tracks(*objs)`` keeps the
    events of objects, ``references(*objs)`` also those whose foreign keys point at them. A
    proxy model of it may add fields read from the context: ``url = ProxyField(
    "pgh_context__url", models.TextField(null=True))`` (a plain field reads the context key
    of its own name).
    """

    objects = EventsManager()
    #: Always empty, as django-pghistory 3.x's ``Events.no_objects`` (its default manager).
    no_objects = NoObjectsManager()

    class Meta:
        managed = False
        db_table = "pghistory_core_events"
        verbose_name_plural = "events"


class MiddlewareEvents(Events):
    """``Events`` with the ``user`` and ``url`` recorded by ``HistoryMiddleware``."""

    user = ProxyField(
        "pgh_context__user",
        models.ForeignKey(
            settings.AUTH_USER_MODEL,
            null=True,
            on_delete=models.DO_NOTHING,
            db_constraint=False,
            related_name="+",
        ),
    )
    url = ProxyField("pgh_context__url", models.TextField(null=True))

    class Meta:
        proxy = True
        verbose_name_plural = "middleware events"
