"""``manage.py pghistory_partitions``: list, premake and drop partitions of event tables."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models
from django.utils import timezone

from pghistory_core.management.labels import named_event_models
from pghistory_core.partitioning import (
    INTERVALS,
    AppendOnlyError,
    create_partitions,
    drop_partitions,
    is_partitioned,
    partitions,
)
from pghistory_core.registry import event_models


class Command(BaseCommand):
    help = (
        "Manage partitioned event tables: list their partitions, premake future ones "
        "(run it from cron), drop old ones (retention)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=None)
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser("list", help="show partitions, bounds and row estimates")
        premake = actions.add_parser("premake", help="create the current and future partitions")
        premake.add_argument(
            "--count", type=int, default=3, help="future partitions to keep ahead (default 3)"
        )
        premake.add_argument(
            "--interval", choices=INTERVALS, help="default: the one of existing partitions"
        )
        drop = actions.add_parser("drop", help="drop partitions holding only older events")
        drop.add_argument("--older-than-days", type=int, required=True)
        drop.add_argument(
            "--bypass-append-only",
            action="store_true",
            help="also drop partitions of append-only event tables (logged)",
        )
        for action in (listing, premake, drop):
            action.add_argument(
                "models", nargs="*", help="event models (app_label.Model); default all partitioned"
            )

    def _models(self, labels: list[str], using: str | None) -> Sequence[type[models.Model]]:
        if not labels:
            chosen = [m for m in event_models() if is_partitioned(m, using=using)]
            if not chosen:
                self.stdout.write("No partitioned event tables.")
            return chosen
        chosen = named_event_models(labels)
        plain = [m._meta.label for m in chosen if not is_partitioned(m, using=using)]
        if plain:
            raise CommandError(
                f"Not partitioned: {', '.join(plain)} (add PartitionEventTable to a migration)."
            )
        return chosen

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        for event_model in self._models(options["models"], using):
            label = event_model._meta.label
            if options["action"] == "list":
                self._list(event_model, using)
            elif options["action"] == "premake":
                if options["count"] < 0:
                    raise CommandError("--count must be 0 or more.")
                created = create_partitions(
                    event_model, premake=options["count"], interval=options["interval"], using=using
                )
                self.stdout.write(f"{label}: created {', '.join(created) or 'nothing'}")
            else:
                older_than = timezone.now() - datetime.timedelta(days=options["older_than_days"])
                try:
                    dropped = drop_partitions(
                        event_model,
                        older_than=older_than,
                        using=using,
                        allow_append_only=options["bypass_append_only"],
                    )
                except AppendOnlyError as error:
                    self.stderr.write(f"skipped: {error}")
                    continue
                self.stdout.write(f"{label}: dropped {', '.join(dropped) or 'nothing'}")

    def _list(self, event_model: type[models.Model], using: str | None) -> None:
        self.stdout.write(f"{event_model._meta.label} ({event_model._meta.db_table}):")
        for partition in partitions(event_model, using=using):
            if partition.is_default:
                bounds = "DEFAULT"
            else:
                lower = partition.lower.isoformat() if partition.lower else "MINVALUE"
                upper = partition.upper.isoformat() if partition.upper else "MAXVALUE"
                bounds = f"{lower} .. {upper}"
            self.stdout.write(f"  {partition.name}  {bounds}  ~{partition.row_estimate} rows")
