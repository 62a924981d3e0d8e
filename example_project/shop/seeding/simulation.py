"""A month of shop life: storefront checkouts and staff working in the admin.

Each simulated request opens ``pghistory_core.context`` with what ``HistoryMiddleware`` would
record (``user``, ``url``) plus a ``request_id``, and runs in its own transaction. A few
one-off scenes show what the triggers catch beyond ``Model.save()``: a bulk ``update()`` from a
command, raw SQL with no context at all, ``SET_NULL`` on a category deletion, large text and
JSON edits, and markup in user input.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Round

import pghistory_core
from example_project.shop.models import Category, Customer, Order, OrderLine, Product
from example_project.shop.seeding import data
from example_project.shop.seeding.timeline import Timeline, last_event_id
from pghistory_core.models import Events

Status = Order.Status
_NOTES = [
    "Prefers delivery after 5 pm.",
    "Called about a late parcel; resolved.",
    "Wholesale enquiry forwarded to sales.",
    "Allergic to nuts: no chocolate samples.",
    "Asked for an invoice with VAT number.",
]
XSS_NOTE = 'Pasted from the contact form: <script>alert(1)</script> "thanks" & <b>bye</b>'


class Simulation:
    """Writes through the ORM (and once through raw SQL) as the shop's users would."""

    def __init__(
        self,
        rng: random.Random,
        timeline: Timeline,
        staff: dict[str, User],
        target_events: int,
    ) -> None:
        self.rng = rng
        self.timeline = timeline
        self.staff = {name: user.pk for name, user in staff.items()}
        self.target_events = target_events
        self.requests = 0
        self._last_id = timeline.first_event_id
        self._serial = 0
        self._skus: dict[str, int] = {}
        self.categories: dict[str, Category] = {}
        self.customers: dict[int, str] = {}
        self.customers_with_orders: set[int] = set()
        self.products: list[int] = []
        self.orders: dict[str, list[int]] = {status: [] for status in Status.values}

    @property
    def events_done(self) -> int:
        return self._last_id - self.timeline.first_event_id

    def run(self) -> None:
        """Import the catalog, then simulate requests until the target number of events."""
        self.import_catalog()
        scenes: list[tuple[float, Callable[[], None]]] = [
            (0.10, self.paste_markup_in_notes),
            (0.30, self.reprice_category),
            (0.45, self.rewrite_description),
            (0.55, self.delete_seasonal_category),
            (0.60, self.discontinue_in_bulk),
            (0.70, self.restock_with_raw_sql),
            (0.85, self.restructure_attributes),
        ]
        actions: list[tuple[Callable[[], None], int]] = [
            (self.checkout, 25),
            (self.advance_order, 45),
            (self.edit_product, 14),
            (self.count_stock, 4),
            (self.edit_customer, 8),
            (self.edit_order_lines, 6),
            (self.cancel_order, 4),
            (self.add_product, 4),
            (self.add_customer, 4),
            (self.delete_something, 2),
        ]
        functions = [function for function, _ in actions]
        weights = [weight for _, weight in actions]
        while self.events_done < self.target_events:
            if scenes and self.events_done >= scenes[0][0] * self.target_events:
                scenes.pop(0)[1]()
            else:
                self.rng.choices(functions, weights)[0]()
        for _, scene in scenes:  # A tiny --events may end before every scene ran.
            scene()

    # Plumbing ------------------------------------------------------------------------------

    @contextmanager
    def request(self, user: str | None, url: str) -> Iterator[datetime]:
        """One HTTP request: its context (as HistoryMiddleware records it) and transaction."""
        request_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        metadata = {"user": self.staff.get(user or ""), "url": url, "request_id": str(request_id)}
        with self.step(**metadata) as when:
            yield when

    @contextmanager
    def step(self, **metadata: Any) -> Iterator[datetime]:
        """One transaction at a simulated time, in a context unless ``metadata`` is empty."""
        when = self.timeline.next_time(self.events_done)
        context_id = None
        with transaction.atomic():
            if metadata:
                with pghistory_core.context(**metadata) as context:
                    context_id = context.id
                    yield when
            else:
                yield when
        if context_id is None:
            # Written without a context: the database recorded the session as one (if the
            # attribution of writes made outside Django is on); it moves with its events.
            context_id = (
                Events.objects.filter(pgh_id__gt=self._last_id, pgh_context_id__isnull=False)
                .values_list("pgh_context_id", flat=True)
                .first()
            )
        self.requests += 1
        self._last_id = last_event_id()
        self.timeline.record(self._last_id, when, context_id)

    def _sku(self, category: str) -> str:
        prefix = data.CATEGORIES[category]
        self._skus[prefix] = self._skus.get(prefix, 0) + 1
        return f"{prefix}-{self._skus[prefix]:04d}"

    def _customer(self) -> Customer:
        self._serial += 1
        name = data.person(self.rng)
        return Customer(name=name, email=data.email(name, self._serial))

    def _product(self, category: str) -> Product:
        name, price, attributes = data.product(self.rng, category)
        return Product(
            sku=self._sku(category),
            name=name,
            category=self.categories[category],
            price=price,
            stock=self.rng.randint(0, 80),
            attributes=attributes,
            description=data.description(self.rng, self.rng.randint(1, 2)),
        )

    def _in_stock(self) -> list[tuple[int, Decimal, int]]:
        """Active products on the shelf: (pk, price, stock)."""
        return list(
            Product.objects.filter(status=Product.Status.ACTIVE, stock__gt=0)
            .order_by("pk")
            .values_list("pk", "price", "stock")
        )

    def _take(self, product_id: int, quantity: int) -> bool:
        """Take ``quantity`` items off the shelf (negative: put back); False if too few."""
        products = Product.objects.filter(pk=product_id)
        if quantity > 0:
            products = products.filter(stock__gte=quantity)
        return products.update(stock=F("stock") - quantity) == 1

    def _pick_order(self, *statuses: str) -> tuple[int, str] | None:
        candidates = [(pk, status) for status in statuses for pk in self.orders[status]]
        if not candidates:
            return None
        candidates.sort()
        # Mostly the oldest first, as staff work through a queue.
        if self.rng.random() < 0.7:
            return candidates[0]
        return self.rng.choice(candidates)

    def _move_order(self, pk: int, old: str, new: str | None) -> None:
        self.orders[old].remove(pk)
        if new is not None:
            self.orders[new].append(pk)

    def _user(self, *names: str) -> str:
        """One of ``names``; "admin" only counts when that superuser exists."""
        return self.rng.choice([name for name in names if name in self.staff])

    # Routine requests ----------------------------------------------------------------------

    def import_catalog(self) -> None:
        """The shop opens: categories, products and customers imported by a command."""
        n_products = max(12, self.target_events // 50)
        n_customers = max(10, self.target_events // 60)
        with self.step(command="import_catalog", command_args=["catalog-export.csv"]):
            categories = Category.objects.bulk_create(
                Category(name=name) for name in data.CATEGORIES
            )
            self.categories = {category.name: category for category in categories}
            names = list(data.CATEGORIES)
            products = [self._product(names[i % len(names)]) for i in range(n_products)]
            self.products = [p.pk for p in Product.objects.bulk_create(products)]
            customers = Customer.objects.bulk_create(self._customer() for _ in range(n_customers))
            self.customers = {c.pk: c.name for c in customers}

    def checkout(self) -> None:
        """An anonymous storefront checkout: maybe a new customer, an order, stock taken."""
        with self.request(None, "/checkout/") as now:
            if not self.customers or self.rng.random() < 0.3:
                customer = self._customer()
                customer.save()
                self.customers[customer.pk] = customer.name
            else:
                pk = self.rng.choice(sorted(self.customers))
                customer = Customer(pk=pk, name=self.customers[pk])
            in_stock = self._in_stock()
            if not in_stock:
                return
            picks = self.rng.sample(
                in_stock, min(len(in_stock), self.rng.choice([1, 1, 2, 2, 3, 4]))
            )
            order = Order.objects.create(
                customer=customer,
                placed_at=now,
                shipping_address=data.address(self.rng, customer.name),
            )
            quantities = {pk: self.rng.randint(1, min(3, stock)) for pk, _, stock in picks}
            OrderLine.objects.bulk_create(
                OrderLine(order=order, product_id=pk, quantity=quantities[pk], unit_price=price)
                for pk, price, _ in picks
            )
            for pk, quantity in quantities.items():
                self._take(pk, quantity)
        self.orders[Status.NEW].append(order.pk)
        self.customers_with_orders.add(customer.pk)

    def advance_order(self) -> None:
        """Payment confirmed by the provider's webhook, or an order shipped by the warehouse."""
        picked = self._pick_order(Status.NEW, Status.PAID)
        if picked is None:
            return self.checkout()
        pk, status = picked
        if status == Status.NEW:
            new = Status.PAID
            if self.rng.random() < 0.6:
                user, url = None, "/payments/webhook/"
            else:
                user, url = self._user("dave", "alice"), f"/admin/shop/order/{pk}/change/"
        else:
            new = Status.SHIPPED
            user, url = self._user("erin", "erin", "alice"), f"/admin/shop/order/{pk}/change/"
        with self.request(user, url):
            order = Order.objects.get(pk=pk)
            order.status = new
            if user is not None and self.rng.random() < 0.1:
                name = self.customers.get(order.customer_id, "Customer")
                order.shipping_address = data.address(self.rng, name)
            order.save()
        self._move_order(pk, status, new)

    def edit_product(self) -> None:
        """A catalog edit from the product's change form."""
        pk = self.rng.choice(self.products)
        with self.request(self._user("bob", "bob", "alice"), f"/admin/shop/product/{pk}/change/"):
            product = Product.objects.get(pk=pk)
            field = self.rng.choices(
                ["price", "attributes", "description", "name", "status"], [5, 3, 1, 1, 1]
            )[0]
            if field == "price":
                factor = Decimal(self.rng.choice([90, 95, 105, 110, 120])) / 100
                product.price = (product.price * factor).quantize(Decimal("0.01"))
            elif field == "attributes":
                product.attributes = data.changed_attributes(self.rng, product.attributes)
            elif field == "description":
                product.description += "\n\n" + data.description(self.rng)
            elif field == "name":
                edition = " (new edition)"
                product.name = product.name.removesuffix(edition) + (
                    "" if product.name.endswith(edition) else edition
                )
            elif product.status == Product.Status.ACTIVE:
                product.status = Product.Status.DISCONTINUED
            else:
                product.status = Product.Status.ACTIVE
            product.save()

    def count_stock(self) -> None:
        """The warehouse corrects a product's stock after counting the shelf."""
        pk = self.rng.choice(self.products)
        with self.request("erin", f"/admin/shop/product/{pk}/change/"):
            product = Product.objects.get(pk=pk)
            product.stock = max(0, product.stock + self.rng.randint(-3, 20))
            product.save()

    def edit_customer(self) -> None:
        """Support updates a customer: email, VIP flag or a note."""
        pk = self.rng.choice(sorted(self.customers))
        with self.request(
            self._user("dave", "dave", "alice"), f"/admin/shop/customer/{pk}/change/"
        ):
            customer = Customer.objects.get(pk=pk)
            change = self.rng.choice(["email", "vip", "notes", "notes"])
            if change == "email":
                self._serial += 1
                customer.email = data.email(customer.name, self._serial)
            elif change == "vip":
                customer.is_vip = not customer.is_vip
            else:
                note = self.rng.choice(_NOTES)
                customer.notes = f"{customer.notes}\n{note}".strip()
            customer.save()

    def edit_order_lines(self) -> None:
        """Support changes an open order's lines in the inline: quantity, removal, addition."""
        picked = self._pick_order(Status.NEW, Status.PAID)
        if picked is None:
            return self.checkout()
        pk = picked[0]
        with self.request(self._user("dave", "alice"), f"/admin/shop/order/{pk}/change/"):
            lines = list(OrderLine.objects.filter(order_id=pk).order_by("pk"))
            change = self.rng.choice(["quantity", "remove", "add"])
            if change == "remove" and len(lines) > 1:
                line = self.rng.choice(lines)
                line.delete()
                self._take(line.product_id, -line.quantity)
            elif change == "add" or not lines:
                in_stock = self._in_stock()
                if in_stock:
                    product_id, price, _ = self.rng.choice(in_stock)
                    OrderLine.objects.create(
                        order_id=pk, product_id=product_id, quantity=1, unit_price=price
                    )
                    self._take(product_id, 1)
            else:
                line = self.rng.choice(lines)
                if self._take(line.product_id, 1):
                    line.quantity += 1
                    line.save()

    def cancel_order(self) -> None:
        """An order is cancelled and its items go back on the shelf."""
        picked = self._pick_order(Status.NEW, Status.PAID)
        if picked is None:
            return
        pk, status = picked
        with self.request(self._user("dave", "alice", "admin"), f"/admin/shop/order/{pk}/change/"):
            order = Order.objects.get(pk=pk)
            order.status = Status.CANCELLED
            order.save()
            for product_id, quantity in order.lines.values_list("product_id", "quantity"):
                self._take(product_id, -quantity)
        self._move_order(pk, status, Status.CANCELLED)

    def add_product(self) -> None:
        """A new product; now and then a duplicate that a manager deletes right away."""
        category = self.rng.choice(sorted(self.categories))
        with self.request("bob", "/admin/shop/product/add/"):
            product = self._product(category)
            product.save()
        if self.rng.random() < 0.2:
            with self.request("alice", f"/admin/shop/product/{product.pk}/delete/"):
                product.delete()
        else:
            self.products.append(product.pk)

    def add_customer(self) -> None:
        """Support registers a customer who ordered by phone."""
        with self.request("dave", "/admin/shop/customer/add/"):
            customer = self._customer()
            customer.is_vip = self.rng.random() < 0.1
            customer.save()
        self.customers[customer.pk] = customer.name

    def delete_something(self) -> None:
        """A manager cleans up: a cancelled order (its lines cascade) or an idle customer."""
        cancelled = sorted(self.orders[Status.CANCELLED])
        idle = sorted(set(self.customers) - self.customers_with_orders)
        if cancelled and (not idle or self.rng.random() < 0.6):
            pk = self.rng.choice(cancelled)
            with self.request(self._user("alice", "admin"), f"/admin/shop/order/{pk}/delete/"):
                Order.objects.get(pk=pk).delete()
            self._move_order(pk, Status.CANCELLED, None)
        elif idle:
            pk = self.rng.choice(idle)
            with self.request(self._user("alice", "admin"), f"/admin/shop/customer/{pk}/delete/"):
                Customer.objects.get(pk=pk).delete()
            del self.customers[pk]

    # One-off scenes ------------------------------------------------------------------------

    def paste_markup_in_notes(self) -> None:
        """Markup in user input: the history UI must show it as text, escaped."""
        pk = min(self.customers)
        with self.request("dave", f"/admin/shop/customer/{pk}/change/"):
            customer = Customer.objects.get(pk=pk)
            customer.notes = XSS_NOTE
            customer.save()

    def reprice_category(self) -> None:
        """A command raises a category's prices by 10% in one UPDATE (no save() involved)."""
        category = self.categories[data.REPRICED]
        with self.step(
            command="reprice", command_args=["--category", category.name, "--percent", "10"]
        ):
            Product.objects.filter(category=category).update(
                price=Round(F("price") * Decimal("1.10"), 2)
            )

    def rewrite_description(self) -> None:
        """A long description rewritten: the diff has to stay readable."""
        pk = self.products[0]
        with self.request("bob", f"/admin/shop/product/{pk}/change/"):
            product = Product.objects.get(pk=pk)
            product.description = data.long_description(product.name)
            product.save()

    def delete_seasonal_category(self) -> None:
        """Deleting a category sets its products' category to NULL (one UPDATE, many events)."""
        category = self.categories.pop(data.SEASONAL)
        with self.request("alice", f"/admin/shop/category/{category.pk}/delete/"):
            category.delete()

    def discontinue_in_bulk(self) -> None:
        """The changelist's "Discontinue selected products" action: QuerySet.update()."""
        category = self.categories["Mugs & cups"]
        with self.request("bob", "/admin/shop/product/"):
            selected = list(
                Product.objects.filter(category=category, status=Product.Status.ACTIVE)
                .order_by("pk")
                .values_list("pk", flat=True)[:3]
            )
            Product.objects.filter(pk__in=selected).update(status=Product.Status.DISCONTINUED)

    def restock_with_raw_sql(self) -> None:
        """Someone restocks from psql: raw SQL, no context, still recorded by the triggers."""
        with self.step(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE shop_product SET stock = stock + 25 WHERE stock < 10 AND status = %s",
                [Product.Status.ACTIVE],
            )

    def restructure_attributes(self) -> None:
        """A nested JSON edit: keys added, a list reordered, a value changed."""
        coffee = self.categories[data.REPRICED]
        pk = Product.objects.filter(category=coffee).order_by("pk").values_list("pk", flat=True)[0]
        with self.request("bob", f"/admin/shop/product/{pk}/change/"):
            product = Product.objects.get(pk=pk)
            attributes = dict(product.attributes)
            attributes["tasting_notes"] = sorted(attributes.get("tasting_notes", []))
            attributes["roast_profile"] = {
                "first_crack": "9:40",
                "drop_temp_c": 208,
                "batch_kg": 12,
            }
            attributes["weight_g"] = 1000
            product.attributes = attributes
            product.save()
