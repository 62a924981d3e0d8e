"""Demo data: staff users and a simulated month of shop activity (the ``seed`` command)."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db import connection, transaction

import pghistory_core
from example_project.shop.models import Category, Customer, Order, OrderLine, Product
from example_project.shop.seeding import showcase, staff
from example_project.shop.seeding.simulation import Simulation
from example_project.shop.seeding.timeline import Timeline, last_event_id
from pghistory_core.registry import event_models

__all__ = ["Report", "is_empty", "reset", "seed"]


@dataclass
class Report:
    requests: int
    seconds: float
    # "shop.ProductEvent" -> {"insert": 60, "update": 812, ...}
    events: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(labels.values()) for labels in self.events.values())


def is_empty() -> bool:
    """True when the shop has no rows (its history may still have events)."""
    return not any(model.objects.exists() for model in (Customer, Category, Product, Order))


def reset() -> None:
    """Delete the shop's rows, children first; their delete events are recorded."""
    with transaction.atomic(), pghistory_core.context(command="seed", command_args=["--reset"]):
        for model in (OrderLine, Order, Product, Category, Customer):
            model.objects.all().delete()


def seed(*, events: int = 3000, seed: int = 42, days: int = 30) -> Report:
    """Create the staff users and about ``events`` events spread over the last ``days`` days."""
    started = time.perf_counter()
    rng = random.Random(seed)
    first_id = last_event_id()
    users = staff.ensure_staff()
    # The superuser created by `python -m example_project` takes part when it exists.
    if admin := User.objects.filter(username="admin", is_superuser=True).first():
        users["admin"] = admin
    timeline = Timeline(days=days, target_events=events, first_event_id=first_id, rng=rng)
    simulation = Simulation(rng, timeline, users, target_events=events)
    simulation.run()
    with transaction.atomic():
        timeline.apply()
    # A blame with several editors and an order to see as of last week (the README's pictures).
    showcase.run(users)
    return Report(
        requests=simulation.requests,
        seconds=time.perf_counter() - started,
        events=_count_events(first_id),
    )


def _count_events(after_id: int) -> dict[str, Counter[str]]:
    result: dict[str, Counter[str]] = {}
    with connection.cursor() as cursor:
        for model in event_models():
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(
                f"SELECT pgh_label, count(*) FROM {table} WHERE pgh_id > %s GROUP BY pgh_label",
                [after_id],
            )
            if rows := cursor.fetchall():
                result[model._meta.label] = Counter(dict(rows))
    return result
