"""``manage.py pghistory_prune``: retention for event tables, in small batches."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from pghistory_core.append_only import BypassRefused
from pghistory_core.management.labels import named_event_models
from pghistory_core.pruning import AppendOnlyError, prune_keep_last, prune_older_than


class Command(BaseCommand):
    help = "Delete old events: older than --days, or all but the newest --keep-last per object."

    def add_arguments(self, parser: CommandParser) -> None:
        rule = parser.add_mutually_exclusive_group(required=True)
        rule.add_argument("--days", type=int, help="delete events older than this many days")
        rule.add_argument("--keep-last", type=int, help="keep this many events per object")
        parser.add_argument("models", nargs="*", help="event models (app_label.Model); default all")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--database", default=None)
        parser.add_argument(
            "--bypass-append-only",
            action="store_true",
            help="also prune append-only event tables (recorded in the context)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        chosen = named_event_models(options["models"])
        for event_model in chosen:
            kwargs: dict[str, Any] = {
                "using": options["database"],
                "allow_append_only": options["bypass_append_only"],
            }
            if options["batch_size"]:
                kwargs["batch_size"] = options["batch_size"]
            try:
                if options["days"] is not None:
                    cutoff = timezone.now() - datetime.timedelta(days=options["days"])
                    deleted = prune_older_than(event_model, cutoff, **kwargs)
                else:
                    deleted = prune_keep_last(event_model, options["keep_last"], **kwargs)
            except AppendOnlyError as error:
                self.stderr.write(f"skipped: {error}")
                continue
            except BypassRefused as error:
                raise CommandError(str(error)) from None
            self.stdout.write(f"{event_model._meta.label}: {deleted} events deleted")
