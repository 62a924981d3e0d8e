"""``manage.py seed``: staff users and a month of simulated shop history."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from example_project.shop import seeding
from example_project.shop.seeding import staff


class Command(BaseCommand):
    help = "Create staff users and simulate a month of shop activity, recorded as history."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--events", type=int, default=3000, help="About how many events to write (3000)."
        )
        parser.add_argument("--seed", type=int, default=42, help="Random seed (42).")
        parser.add_argument(
            "--days", type=int, default=30, help="Spread the history over this many days (30)."
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the shop's rows first (their history stays, with delete events).",
        )

    def handle(
        self, *args: Any, events: int, seed: int, days: int, reset: bool, **options: Any
    ) -> None:
        if events < 1 or days < 1:
            raise CommandError("--events and --days must be positive.")
        if reset:
            seeding.reset()
        elif not seeding.is_empty():
            raise CommandError("The shop already has data: run `seed --reset` to start over.")
        report = seeding.seed(events=events, seed=seed, days=days)
        self.stdout.write(
            f"Seeded {report.total} events from {report.requests} simulated requests "
            f"in {report.seconds:.1f} s (seed {seed}, last {days} days):"
        )
        for label, counts in report.events.items():
            details = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
            self.stdout.write(f"  {label:<22} {sum(counts.values()):>6}  ({details})")
        self.stdout.write(f'Staff users, password "{staff.PASSWORD}": {staff.describe()}.')
