"""``manage.py pghistory_adopt_3x``: finish switching a database from django-pghistory 3.x."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from pghistory_core.adopt3x import AdoptError, adopt


class Command(BaseCommand):
    help = (
        "After replacing django-pghistory 3.x by pghistory_core and running makemigrations and "
        "migrate: copy 3.x's contexts (pghistory_context) to pghistory_core_context with the "
        "same ids and metadata, drop 3.x triggers no migration removed, and move the shared "
        "pgh_id sequence past every stored event. One transaction; running it again changes "
        "nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="report what would be done without changing (or locking) anything",
        )
        parser.add_argument(
            "--renumber",
            action="store_true",
            help="when event tables share pgh_id values (3.x numbered each table on its own), "
            "give every event a new pgh_id, unique across tables, keeping each table's order",
        )
        parser.add_argument("--database", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = adopt(
                options["database"], dry_run=options["dry_run"], renumber=options["renumber"]
            )
        except AdoptError as error:
            raise CommandError(str(error)) from None
        except DatabaseError as error:
            raise CommandError(
                f"The database refused a step; everything was rolled back: {error}"
            ) from error
        if report.dry_run:
            self.stdout.write("Dry run: nothing was changed.")
        for line in report.lines():
            self.stdout.write(line)
