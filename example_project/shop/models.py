"""The shop's models. Each one is tracked: ``@track`` generates ``<Model>Event`` beside it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

import pghistory_core


@pghistory_core.track(
    pghistory_core.InsertEvent(),
    pghistory_core.UpdateEvent(),
    pghistory_core.DeleteEvent(),
)
class Customer(models.Model):
    name = models.CharField(max_length=120)
    email = models.EmailField(unique=True)
    is_vip = models.BooleanField("VIP", default=False)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


@pghistory_core.track(
    pghistory_core.InsertEvent(),
    pghistory_core.UpdateEvent(),
    pghistory_core.DeleteEvent(),
)
class Category(models.Model):
    name = models.CharField(max_length=80, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


@pghistory_core.track(
    pghistory_core.InsertEvent(),
    pghistory_core.UpdateEvent(),
    pghistory_core.DeleteEvent(),
)
class Product(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISCONTINUED = "discontinued", "Discontinued"

    sku = models.CharField("SKU", max_length=20, unique=True)
    name = models.CharField(max_length=200)
    # SET_NULL: deleting a category keeps its products (and records their update).
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="products"
    )
    price = models.DecimalField(max_digits=8, decimal_places=2)
    stock = models.IntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    attributes = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


@pghistory_core.track(
    pghistory_core.InsertEvent(),
    pghistory_core.UpdateEvent(),
    pghistory_core.DeleteEvent(),
)
class Order(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    placed_at = models.DateTimeField(default=timezone.now)
    shipping_address = models.TextField()

    class Meta:
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        return f"Order #{self.pk}"


@pghistory_core.track(
    pghistory_core.InsertEvent(),
    pghistory_core.UpdateEvent(),
    pghistory_core.DeleteEvent(),
)
class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=8, decimal_places=2)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        # No related lookups: history pages may print many of these.
        return f"Line #{self.pk} of order #{self.order_id}"
