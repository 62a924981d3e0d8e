"""Adopt a database that django-pghistory 3.x wrote (``manage.py pghistory_adopt_3x``).

After a project replaces ``pghistory`` by ``pghistory_core`` and runs ``makemigrations`` and
``migrate``, its event tables are ours (altered in place: ``pgh_id`` draws from the shared
sequence, the triggers are replaced). What migrations cannot move is data outside the event
tables: the contexts 3.x recorded in ``pghistory_context``. ``adopt()`` copies them to
``pghistory_core_context`` with the same ids, timestamps and metadata, drops 3.x triggers that
no migration removed (installed outside migrations, so still writing to 3.x's tables), and moves
the shared ``pgh_id`` sequence past every stored event. All of it runs in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connections, transaction
from django.db.backends.utils import CursorWrapper
from django.db.migrations.executor import MigrationExecutor
from pgtrigger import registry

from pghistory_core import sequence
from pghistory_core.aggregate import event_models
from pghistory_core.config import EVENT_ID_SEQUENCE
from pghistory_core.meta import pk
from pghistory_core.triggers import quote

__all__ = ["LEGACY_CONTEXT_TABLE", "AdoptError", "Report", "adopt"]

LEGACY_CONTEXT_TABLE = "pghistory_context"
_CONTEXT_TABLE = "pghistory_core_context"
# What 3.x's trigger functions call or read; ours use pghistory_core_* names.
_LEGACY_MARKERS = (
    "_pgh_attach_context()",
    "'pghistory.context_id'",
    "'pghistory.context_metadata'",
)


class AdoptError(Exception):
    """The database cannot be adopted as it is; the message says what to do first."""


@dataclass
class Report:
    """What ``adopt()`` did, or would do with ``dry_run``."""

    dry_run: bool
    legacy_contexts: int = 0
    contexts_copied: int = 0
    contexts_present: int = 0
    triggers_dropped: list[str] = field(default_factory=list)
    sequence: sequence.SequenceState | None = None
    #: Event tables whose ``pgh_id`` ranges overlap another's: (table, smallest, largest).
    shared_ids: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the database changed (or would change)."""
        return bool(
            self.contexts_copied
            or self.triggers_dropped
            or (self.sequence is not None and self.sequence.behind)
        )

    def lines(self) -> list[str]:
        """The report as lines of text, one per step."""
        verb = "would copy" if self.dry_run else "copied"
        lines = []
        if self.legacy_contexts:
            lines.append(
                f"contexts: {self.legacy_contexts} in {LEGACY_CONTEXT_TABLE}; {verb} "
                f"{self.contexts_copied} to {_CONTEXT_TABLE}, {self.contexts_present} already there"
            )
        else:
            lines.append(f"contexts: none to copy ({LEGACY_CONTEXT_TABLE} is absent or empty)")
        drop = "would drop" if self.dry_run else "dropped"
        if self.triggers_dropped:
            lines.append(
                f"3.x triggers left in the database: {drop} {', '.join(self.triggers_dropped)}"
            )
        else:
            lines.append("3.x triggers left in the database: none")
        state = self.sequence
        if state is not None and state.behind:
            move = "would move" if self.dry_run else "moved"
            lines.append(
                f"{EVENT_ID_SEQUENCE}: {move} past pgh_id {state.largest_event_id} "
                f"(largest, in {state.largest_in}); it stood at {state.next_value}"
            )
        elif state is not None:
            lines.append(
                f"{EVENT_ID_SEQUENCE}: next value {state.next_value}, already past every "
                f"stored pgh_id ({state.largest_event_id or 'no events'})"
            )
        if self.shared_ids:
            ranges = ", ".join(f"{table} {low}-{high}" for table, low, high in self.shared_ids)
            lines.append(
                f"warning: events recorded by 3.x share pgh_id values across tables ({ranges}); "
                "they are kept as they are, but pages that address one event by pgh_id alone "
                "(the admin's event diff and revert links, its pagination) can mix them up."
            )
        if not self.changed:
            lines.append("Nothing to do: this database was adopted already.")
        return lines


def _exists(cursor: CursorWrapper, table: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [quote(table)])
    return bool(cursor.fetchone()[0])


def _check_migrated(using: str) -> None:
    executor = MigrationExecutor(connections[using])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        first = plan[0][0]
        raise AdoptError(
            f"{len(plan)} migration(s) are not applied on database {using!r} (first: "
            f"{first.app_label}.{first.name}). Run `manage.py makemigrations` and "
            "`manage.py migrate` first."
        )


def _check_event_tables(cursor: CursorWrapper) -> None:
    """Every event table must draw ``pgh_id`` from the shared sequence (3.x's had a counter)."""
    unswitched = []
    for model in event_models():
        table = model._meta.db_table
        if not _exists(cursor, table):
            raise AdoptError(f"Table {table} of {model._meta.label} does not exist: run migrate.")
        cursor.execute(
            "SELECT a.attidentity, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute AS a "
            "LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = to_regclass(%s) AND a.attname = %s",
            [quote(table), pk(model).column],
        )
        identity, default = cursor.fetchone()
        if identity or EVENT_ID_SEQUENCE not in (default or ""):
            unswitched.append(f"{model._meta.label} ({table})")
    if unswitched:
        raise AdoptError(
            "pgh_id of these event tables does not come from the shared sequence yet: "
            f"{', '.join(unswitched)}. Run `manage.py makemigrations` and `manage.py migrate` "
            "(the generated migration alters pgh_id) first."
        )


def _registered_trigger_names() -> set[tuple[str, str]]:
    names = set()
    for model, trigger in registry.registered():
        names.add((model._meta.db_table, trigger.get_pgid(model)))
    return names


def _legacy_triggers(cursor: CursorWrapper) -> list[tuple[str, str, str]]:
    """3.x triggers still installed and not registered by any model: (table, trigger, function)."""
    conditions = " OR ".join(["strpos(p.prosrc, %s) > 0"] * len(_LEGACY_MARKERS))
    cursor.execute(
        "SELECT c.relname, t.tgname, p.oid::regprocedure::text "
        "FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid "
        "JOIN pg_proc AS p ON p.oid = t.tgfoid "
        "WHERE NOT t.tgisinternal AND pg_table_is_visible(c.oid) "
        f"AND ({conditions}) ORDER BY c.relname, t.tgname",
        list(_LEGACY_MARKERS),
    )
    registered = _registered_trigger_names()
    return [row for row in cursor.fetchall() if (row[0], row[1]) not in registered]


def _drop_triggers(cursor: CursorWrapper, triggers: list[tuple[str, str, str]]) -> None:
    for table, trigger, _ in triggers:
        cursor.execute(f"DROP TRIGGER {quote(trigger)} ON {quote(table)}")
    for function in sorted({function for _, _, function in triggers}):
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgfoid = %s::regprocedure", [function]
        )
        if not cursor.fetchone()[0]:
            cursor.execute(f"DROP FUNCTION {function}")


def _shared_ids(cursor: CursorWrapper) -> list[tuple[str, int, int]]:
    """Event tables whose pgh_id ranges overlap (3.x numbered each table on its own)."""
    ranges = []
    for model in event_models():
        column = quote(pk(model).column or "pgh_id")
        cursor.execute(f"SELECT min({column}), max({column}) FROM {quote(model._meta.db_table)}")
        low, high = cursor.fetchone()
        if low is not None:
            ranges.append((model._meta.db_table, int(low), int(high)))
    return [
        (table, low, high)
        for table, low, high in ranges
        if any(
            other != table and low <= o_high and o_low <= high for other, o_low, o_high in ranges
        )
    ]


def _conflicts(cursor: CursorWrapper) -> tuple[int, list[str]]:
    cursor.execute(
        f"SELECT count(*), (array_agg(o.id::text ORDER BY o.id))[1:3] "
        f"FROM {LEGACY_CONTEXT_TABLE} AS o JOIN {_CONTEXT_TABLE} AS n ON n.id = o.id "
        "WHERE n.metadata IS DISTINCT FROM o.metadata"
    )
    count, sample = cursor.fetchone()
    return int(count), list(sample or [])


def _copy_contexts(cursor: CursorWrapper, report: Report) -> None:
    if not _exists(cursor, LEGACY_CONTEXT_TABLE):
        return
    cursor.execute(
        f"SELECT count(*), count(n.id) FROM {LEGACY_CONTEXT_TABLE} AS o "
        f"LEFT JOIN {_CONTEXT_TABLE} AS n ON n.id = o.id"
    )
    report.legacy_contexts, matched = (int(value) for value in cursor.fetchone())
    conflicts, sample = _conflicts(cursor)
    if conflicts:
        raise AdoptError(
            f"{conflicts} context(s) of {LEGACY_CONTEXT_TABLE} have the id of a context in "
            f"{_CONTEXT_TABLE} with other metadata (e.g. {', '.join(sample)}); nothing was "
            "changed. Compare the two rows of each id and remove the wrong one."
        )
    report.contexts_present = matched
    if report.dry_run:
        report.contexts_copied = report.legacy_contexts - matched
        return
    cursor.execute(
        f"INSERT INTO {_CONTEXT_TABLE} (id, created_at, updated_at, metadata) "
        f"SELECT o.id, o.created_at, o.updated_at, o.metadata FROM {LEGACY_CONTEXT_TABLE} AS o "
        f"WHERE NOT EXISTS (SELECT FROM {_CONTEXT_TABLE} AS n WHERE n.id = o.id) ORDER BY o.id"
    )
    report.contexts_copied = cursor.rowcount


def adopt(using: str = "default", *, dry_run: bool = False) -> Report:
    """Finish the switch from django-pghistory 3.x on database ``using``; see the module doc.

    Idempotent (a second run changes nothing) and atomic (an error rolls every step back).
    With ``dry_run`` nothing is written or locked; the report says what would be done.
    Raises ``AdoptError`` when migrations are pending or contexts conflict.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise AdoptError(f"Database {using!r} is not PostgreSQL.")
    _check_migrated(using)
    report = Report(dry_run=dry_run)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        _check_event_tables(cursor)
        triggers = _legacy_triggers(cursor)
        report.triggers_dropped = [f"{trigger} ON {table}" for table, trigger, _ in triggers]
        if not dry_run:
            _drop_triggers(cursor, triggers)
        _copy_contexts(cursor, report)
        # Last: setval is not undone by a rollback, so nothing may fail after it.
        report.shared_ids = _shared_ids(cursor)
        report.sequence = sequence.state(cursor) if dry_run else sequence.advance(cursor)
    return report
