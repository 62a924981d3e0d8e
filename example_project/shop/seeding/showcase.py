"""Stories told on fixed days, for the blame, as-of and audit log pages.

* A product edited by several people over three weeks (``SHOWCASE_SKU``): its blame names a
  different editor, day and URL or command for most fields.
* A tea repriced from ``psql`` by the database role ``shop_etl`` at 3 this morning (``outside``):
  a write made outside Django, attributed to its database session.
* An order placed ten days ago (``SHOWCASE_ORDER_ADDRESS``), paid, then changed by support three
  days ago (a line removed, one added, a quantity raised) and shipped: "as of last week" shows it
  with its original lines.

Each step runs in its own transaction and context, and its events (and context) are then moved
to the step's day, as ``timeline`` does for the simulated month.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

import pghistory_core
from example_project.shop.models import Category, Customer, Order, OrderLine, Product
from example_project.shop.seeding import outside
from example_project.shop.seeding.timeline import backdate, last_event_id

__all__ = ["SHOWCASE_ORDER_ADDRESS", "SHOWCASE_SKU", "run"]

SHOWCASE_SKU = "COF-SHOWCASE"
SHOWCASE_ORDER_ADDRESS = "Showcase Lane 7\n10115 Berlin"


def _day(days_ago: int, hour: int) -> datetime:
    today = timezone.localtime().replace(minute=0, second=0, microsecond=0)
    return today.replace(hour=hour) - timedelta(days=days_ago)


@contextmanager
def _step(when: datetime, **metadata: Any) -> Iterator[None]:
    """One request or command at ``when``: its own transaction and context."""
    before = last_event_id()
    with transaction.atomic():
        with pghistory_core.context(**metadata) as context:
            yield
            context_id = context.id
        backdate(before, [last_event_id()], [when], {str(context_id): when})


def _admin_url(model: str, pk: Any = None) -> str:
    return f"/admin/shop/{model}/add/" if pk is None else f"/admin/shop/{model}/{pk}/change/"


def product_story(users: dict[str, User]) -> Product:
    """A coffee whose fields were set by different people on different days."""
    alice, bob, erin = users["alice"].pk, users["bob"].pk, users["erin"].pk
    coffee = Category.objects.filter(name="Coffee").first()
    with _step(_day(21, 9), user=alice, url=_admin_url("product")):
        product = Product.objects.create(
            sku=SHOWCASE_SKU,
            name="Yirgacheffe",
            category=coffee,
            price=Decimal("14.00"),
            stock=40,
            attributes={"origin": "Ethiopia", "roast": "light"},
            description="Washed coffee from Gedeo.",
        )
    with _step(_day(14, 11), user=bob, url=_admin_url("product", product.pk)):
        product.name = "Yirgacheffe Kochere"
        product.description = "Washed coffee from Gedeo: jasmine, bergamot and lemon."
        product.save()
    with _step(_day(9, 6), command="enrich_attributes", command_args=["--source", "importer"]):
        Product.objects.filter(pk=product.pk).update(
            attributes={"origin": "Ethiopia", "roast": "light", "process": "washed"}
        )
    with _step(_day(5, 15), user=erin, url=_admin_url("product", product.pk)):
        Product.objects.filter(pk=product.pk).update(stock=120)
    with _step(_day(2, 10), user=alice, url=_admin_url("product", product.pk)):
        Product.objects.filter(pk=product.pk).update(price=Decimal("15.50"))
    return product


def order_story(users: dict[str, User]) -> Order | None:
    """An order placed ten days ago, changed by support three days ago, shipped two days ago."""
    customer = Customer.objects.order_by("pk").first()
    products = list(Product.objects.exclude(sku=SHOWCASE_SKU).order_by("pk")[:4])
    if customer is None or len(products) < 4:
        return None
    first, second, third, added = products
    with _step(_day(10, 12), user=None, url="/checkout/"):
        order = Order.objects.create(
            customer=customer, placed_at=_day(10, 12), shipping_address=SHOWCASE_ORDER_ADDRESS
        )
        lines = OrderLine.objects.bulk_create(
            OrderLine(order=order, product=product, quantity=quantity, unit_price=product.price)
            for product, quantity in ((first, 1), (second, 2), (third, 1))
        )
    with _step(_day(10, 13), url="/payments/webhook/", provider="stripe"):
        Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID)
    with _step(_day(3, 16), user=users["dave"].pk, url=_admin_url("order", order.pk)):
        OrderLine.objects.filter(pk=lines[0].pk).update(quantity=3)
        OrderLine.objects.filter(pk=lines[2].pk).delete()
        OrderLine.objects.create(order=order, product=added, quantity=1, unit_price=added.price)
        Order.objects.filter(pk=order.pk).update(shipping_address="Showcase Lane 9\n10115 Berlin")
    with _step(_day(2, 9), user=users["erin"].pk, url=_admin_url("order", order.pk)):
        Order.objects.filter(pk=order.pk).update(status=Order.Status.SHIPPED)
    return order


def run(users: dict[str, User]) -> None:
    """Tell the stories (after the simulated month, so they are the objects' newest events)."""
    product_story(users)
    order_story(users)
    # Last night at 3, after everything else (events are listed by id, which follows time).
    night = _day(0, 3)
    outside.run(night if night < timezone.now() else timezone.now())
