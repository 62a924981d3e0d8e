"""``manage.py pghistory_verify``: check the hash chains of event tables."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pghistory_core.hash_chain import chained_models, verify
from pghistory_core.management.labels import named_event_models


def _head(value: str) -> tuple[str, int, str]:
    try:
        label, pgh_id, digest = value.rsplit(":", 2)
        return label, int(pgh_id), digest
    except ValueError:
        raise CommandError(
            f"--expect-head takes app_label.Model:pgh_id:hash, not {value!r}"
        ) from None


class Command(BaseCommand):
    help = (
        "Recompute the hash chain of event tables tracked with hash_chain=True and report the "
        "first broken link, events before the chain that its seal does not account for, and "
        "contexts that no longer hold the metadata recorded with their events. Record the "
        "printed heads elsewhere and pass them back with --expect-head to detect a rewritten "
        "chain."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("models", nargs="*", help="event models (app_label.Model); default all")
        parser.add_argument("--database", default=None)
        parser.add_argument(
            "--expect-head",
            action="append",
            default=[],
            metavar="MODEL:PGH_ID:HASH",
            help="a head printed by an earlier run; it must still be in the chain",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        chosen = named_event_models(options["models"])
        chained = chained_models(chosen)
        if options["models"] and len(chained) != len(chosen):
            plain = sorted(m._meta.label for m in chosen if m not in chained)
            raise CommandError(f"No hash chain (track(hash_chain=True)): {', '.join(plain)}")
        heads = {
            label: (pgh_id, digest) for label, pgh_id, digest in map(_head, options["expect_head"])
        }
        unknown = set(heads) - {m._meta.label for m in chained}
        if unknown:
            raise CommandError(
                f"--expect-head names no chained event model: {', '.join(sorted(unknown))}"
            )
        if not chained:
            self.stdout.write(
                "Nothing verified: no event model keeps a hash chain (track(hash_chain=True) or "
                "PGHISTORY_HASH_CHAIN = True)."
            )
            return
        failed = []
        for event_model in chained:
            report = verify(
                event_model,
                using=options["database"],
                expected_head=heads.get(event_model._meta.label),
            )
            self.stdout.write(str(report))
            if not report.ok:
                failed.append(report.model)
        if failed:
            raise CommandError(f"Hash chain verification failed: {', '.join(failed)}")
