"""Adopt a database that django-pghistory 3.x wrote (``manage.py pghistory_adopt_3x``).

After a project replaces ``pghistory`` by ``pghistory_core`` and runs ``makemigrations`` and
``migrate``, its event tables are ours (altered in place: ``pgh_id`` draws from the shared
sequence, the triggers are replaced). What migrations cannot move is data outside the event
tables: the contexts 3.x recorded in ``pghistory_context``. ``adopt()`` copies them to
``pghistory_core_context`` with the same ids, timestamps and metadata, drops 3.x triggers that
no migration removed (installed outside migrations, so still writing to 3.x's tables), and moves
the shared ``pgh_id`` sequence past every stored event. With ``renumber``, events that share a
``pgh_id`` with an event of another table (3.x numbered each table from 1) get new ids, unique
across tables, in each table's own order. All of it runs in one transaction.

One concept over 300 lines: the adoption is one transaction whose steps share one report.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

from django.db import connections, transaction
from django.db.backends.utils import CursorWrapper
from django.db.migrations.exceptions import NodeNotFoundError
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Model
from pgtrigger import registry

from pghistory_core import append_only, sequence
from pghistory_core.constants import CONTEXT_TABLE, EVENT_ID_SEQUENCE
from pghistory_core.meta import column, pk
from pghistory_core.registry import event_models
from pghistory_core.sql_builders import literal, quote

__all__ = ["LEGACY_CONTEXT_TABLE", "AdoptError", "Report", "adopt"]

LEGACY_CONTEXT_TABLE = "pghistory_context"
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
    #: How many ``pgh_id`` values more than one event table holds, and those tables.
    shared_ids: int = 0
    shared_tables: list[str] = field(default_factory=list)
    #: Events given a new ``pgh_id`` by ``renumber=True`` (or that would be, in a dry run).
    renumbered: int = 0

    @property
    def changed(self) -> bool:
        """True when the database changed (or would change)."""
        return bool(
            self.contexts_copied
            or self.triggers_dropped
            or self.renumbered
            or (self.sequence is not None and self.sequence.behind)
        )

    def lines(self) -> list[str]:
        """The report as lines of text, one per step."""
        verb = "would copy" if self.dry_run else "copied"
        lines = []
        if self.legacy_contexts:
            lines.append(
                f"contexts: {self.legacy_contexts} in {LEGACY_CONTEXT_TABLE}; {verb} "
                f"{self.contexts_copied} to {CONTEXT_TABLE}, {self.contexts_present} already there"
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
        if self.renumbered:
            renumber = "would give" if self.dry_run else "gave"
            lines.append(
                f"pgh_id: {renumber} {self.renumbered} event(s) a new id, unique across event "
                "tables (each table's order, and so every diff, unchanged)"
            )
        if self.shared_ids:
            lines.append(
                f"warning: {self.shared_ids} pgh_id value(s) are held by more than one event "
                f"table ({', '.join(self.shared_tables)}): django-pghistory 3.x numbered each "
                "table on its own. The events are kept as they are, but what addresses an event "
                "by pgh_id alone (the admin's pagination, diff and revert links) can mix them "
                "up; run again with --renumber to give them unique ids."
            )
        if not self.changed:
            lines.append("Nothing to do: this database was adopted already.")
        return lines


def _exists(cursor: CursorWrapper, table: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [quote(table)])
    return bool(cursor.fetchone()[0])


def _check_migrated(using: str) -> None:
    try:
        executor = MigrationExecutor(connections[using])
    except NodeNotFoundError as error:
        if error.node[0] != "pghistory":
            raise
        raise AdoptError(
            f"{error.message}. Add 'pghistory_core.from3x' to INSTALLED_APPS where 'pghistory' "
            "was: it stands in for django-pghistory's migrations."
        ) from None
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


def _table_ids(model: type[Model]) -> tuple[str, str, str]:
    """(table, pgh_id column, pgh_created_at column), quoted."""
    return (
        quote(model._meta.db_table),
        quote(pk(model).column or "pgh_id"),
        quote(column(model, "pgh_created_at")),
    )


def _shared_ids(cursor: CursorWrapper) -> tuple[int, list[str]]:
    """How many pgh_id values several event tables hold (3.x numbered each table on its own)."""
    ranges = []
    for model in event_models():
        table, pgh_id, _ = _table_ids(model)
        cursor.execute(f"SELECT min({pgh_id}), max({pgh_id}) FROM {table}")
        low, high = cursor.fetchone()
        if low is not None:
            ranges.append((model, int(low), int(high)))
    overlapping = [
        (model, low, high)
        for model, low, high in ranges
        if any(
            other is not model and low <= o_high and o_low <= high
            for other, o_low, o_high in ranges
        )
    ]
    if not overlapping:
        return 0, []
    union = " UNION ALL ".join(
        "SELECT {1} AS id FROM {0}".format(*_table_ids(model)) for model, _, _ in overlapping
    )
    cursor.execute(
        f"SELECT count(*) FROM (SELECT id FROM ({union}) AS ids GROUP BY id HAVING count(*) > 1) AS d"
    )
    shared = int(cursor.fetchone()[0])
    return shared, sorted(model._meta.db_table for model, _, _ in overlapping) if shared else []


def _renumbering_sql() -> str:
    """(table, old id, new id) of every event, the new ids unique across tables.

    Events are merged by time, but each table keeps its own order: a table's events are ranked
    by the latest ``pgh_created_at`` up to them in ``pgh_id`` order, which never decreases, so
    the previous event of an object, and with it every diff, stays the same.
    """
    branches = []
    for model in event_models():
        table, pgh_id, created = _table_ids(model)
        branches.append(
            f"SELECT {literal(model._meta.db_table)} AS tbl, {pgh_id} AS old_id, "
            f"max({created}) OVER (ORDER BY {pgh_id} ROWS UNBOUNDED PRECEDING) AS ts FROM {table}"
        )
    return (
        "SELECT tbl, old_id, row_number() OVER (ORDER BY ts, old_id, tbl) AS new_id "
        f"FROM ({' UNION ALL '.join(branches)}) AS events"
    )


def _renumber(cursor: CursorWrapper, report: Report, using: str) -> None:
    chained = [m for m in event_models() if getattr(m, "pgh_hash_chain", False)]
    for model in chained:
        cursor.execute(
            f"SELECT EXISTS (SELECT FROM {_table_ids(model)[0]} WHERE pgh_hash IS NOT NULL)"
        )
        if cursor.fetchone()[0]:
            raise AdoptError(
                f"{model._meta.label} has a hash chain, which covers pgh_id: renumbering would "
                "break it. Renumber before enabling hash_chain, or keep the ids."
            )
    if report.dry_run:
        cursor.execute(f"SELECT count(*) FROM ({_renumbering_sql()}) AS r WHERE old_id <> new_id")
        report.renumbered = int(cursor.fetchone()[0])
        return
    cursor.execute(f"CREATE TEMPORARY TABLE _pgh_renumber ON COMMIT DROP AS {_renumbering_sql()}")
    cursor.execute("SELECT count(*) FROM _pgh_renumber WHERE old_id <> new_id")
    report.renumbered = int(cursor.fetchone()[0])
    protected = [m for m in event_models() if getattr(m, "pgh_append_only", False)]
    with append_only.bypass(*protected, databases=[using]) if protected else nullcontext():
        for model in event_models():
            table, pgh_id, _ = _table_ids(model)
            # Through negative ids: no new id meets an old one in the primary key midway.
            cursor.execute(f"UPDATE {table} SET {pgh_id} = -{pgh_id}")
            cursor.execute(
                f"UPDATE {table} AS t SET {pgh_id} = r.new_id FROM _pgh_renumber AS r "
                f"WHERE r.tbl = %s AND t.{pgh_id} = -r.old_id",
                [model._meta.db_table],
            )
    cursor.execute("DROP TABLE _pgh_renumber")


def _conflicts(cursor: CursorWrapper) -> tuple[int, list[str]]:
    cursor.execute(
        f"SELECT count(*), (array_agg(o.id::text ORDER BY o.id))[1:3] "
        f"FROM {LEGACY_CONTEXT_TABLE} AS o JOIN {CONTEXT_TABLE} AS n ON n.id = o.id "
        "WHERE n.metadata IS DISTINCT FROM o.metadata"
    )
    count, sample = cursor.fetchone()
    return int(count), list(sample or [])


def _copy_contexts(cursor: CursorWrapper, report: Report) -> None:
    if not _exists(cursor, LEGACY_CONTEXT_TABLE):
        return
    cursor.execute(
        f"SELECT count(*), count(n.id) FROM {LEGACY_CONTEXT_TABLE} AS o "
        f"LEFT JOIN {CONTEXT_TABLE} AS n ON n.id = o.id"
    )
    report.legacy_contexts, matched = (int(value) for value in cursor.fetchone())
    conflicts, sample = _conflicts(cursor)
    if conflicts:
        raise AdoptError(
            f"{conflicts} context(s) of {LEGACY_CONTEXT_TABLE} have the id of a context in "
            f"{CONTEXT_TABLE} with other metadata (e.g. {', '.join(sample)}); nothing was "
            "changed. Compare the two rows of each id and remove the wrong one."
        )
    report.contexts_present = matched
    if report.dry_run:
        report.contexts_copied = report.legacy_contexts - matched
        return
    cursor.execute(
        f"INSERT INTO {CONTEXT_TABLE} (id, created_at, updated_at, metadata) "
        f"SELECT o.id, o.created_at, o.updated_at, o.metadata FROM {LEGACY_CONTEXT_TABLE} AS o "
        f"WHERE NOT EXISTS (SELECT FROM {CONTEXT_TABLE} AS n WHERE n.id = o.id) ORDER BY o.id"
    )
    report.contexts_copied = cursor.rowcount


def adopt(using: str = "default", *, dry_run: bool = False, renumber: bool = False) -> Report:
    """Finish the switch from django-pghistory 3.x on database ``using``; see the module doc.

    Idempotent (a second run changes nothing) and atomic (an error rolls every step back).
    With ``dry_run`` nothing is written or locked; the report says what would be done.
    ``renumber`` gives every event a new ``pgh_id`` when event tables share ids (3.x numbered
    each table on its own), so that ``pgh_id`` identifies one event again.
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
        report.shared_ids, report.shared_tables = _shared_ids(cursor)
        if renumber and report.shared_ids:
            _renumber(cursor, report, using)
            if not dry_run:
                report.shared_ids, report.shared_tables = _shared_ids(cursor)
        # Last: setval is not undone by a rollback, so nothing may fail after it.
        report.sequence = sequence.state(cursor) if dry_run else sequence.advance(cursor)
    return report
