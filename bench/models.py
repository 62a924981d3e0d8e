"""Identical models, each recorded by a different library (or not at all).

``*Item`` models are written by the write benchmarks; the read benchmarks spread their events over
``*Item``, ``*Customer`` and ``*Order`` so the aggregate stream unions three event tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pghistory
from django.db import models
from django.db.models.signals import class_prepared
from simple_history.models import HistoricalRecords

import pghistory_core
from pghistory_core.event_model import _on_class_prepared


@contextmanager
def _pghistory_core_setup_paused() -> Iterator[None]:
    """Keep pghistory_core's ``class_prepared`` receiver away from django-pghistory's event models.

    The receiver sets up any model with a ``pgh_tracked_model`` attribute, which django-pghistory's
    event models also have, so their triggers would be registered twice ("Trigger name
    insert_insert already used"). Reported to the lead; remove once pghistory_core checks
    ``issubclass(sender, pghistory_core.models.Event)``.
    """
    uid = "pghistory_core_event_models"
    class_prepared.disconnect(dispatch_uid=uid)
    try:
        yield
    finally:
        class_prepared.connect(_on_class_prepared, dispatch_uid=uid)


class Status(models.TextChoices):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


class ItemFields(models.Model):
    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    updated_at = models.DateTimeField(auto_now=True)
    notes = models.TextField(blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name


class CustomerFields(models.Model):
    name = models.CharField(max_length=100)
    email = models.EmailField()
    city = models.CharField(max_length=60)
    is_vip = models.BooleanField(default=False)
    notes = models.TextField(blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name


class OrderFields(models.Model):
    customer_id = models.BigIntegerField()
    status = models.CharField(max_length=20)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    placed_at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"Order {self.pk}"


class PlainItem(ItemFields):
    """Not tracked: the baseline."""


@pghistory_core.track(
    pghistory_core.InsertEvent(), pghistory_core.UpdateEvent(), pghistory_core.DeleteEvent()
)
class CoreItem(ItemFields):
    """Tracked by pghistory-admin (``CoreItemEvent``)."""


@pghistory_core.track(
    pghistory_core.InsertEvent(), pghistory_core.UpdateEvent(), pghistory_core.DeleteEvent()
)
class CoreCustomer(CustomerFields):
    """Tracked by pghistory-admin; read benchmarks only."""


@pghistory_core.track(
    pghistory_core.InsertEvent(), pghistory_core.UpdateEvent(), pghistory_core.DeleteEvent()
)
class CoreOrder(OrderFields):
    """Tracked by pghistory-admin; read benchmarks only."""


with _pghistory_core_setup_paused():

    @pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
    class PghistoryItem(ItemFields):
        """Tracked by django-pghistory with its defaults (``PghistoryItemEvent``)."""

    @pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
    class PghistoryCustomer(CustomerFields):
        """Tracked by django-pghistory; read benchmarks only."""

    @pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
    class PghistoryOrder(OrderFields):
        """Tracked by django-pghistory; read benchmarks only."""


class SimpleHistoryItem(ItemFields):
    """Tracked by django-simple-history (signals; ``HistoricalSimpleHistoryItem``)."""

    history = HistoricalRecords()
