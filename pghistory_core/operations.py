"""``PartitionEventTable``: a migration operation turning an event table into a partitioned one.

The table is rebuilt under its own name: columns and defaults, every index and constraint with
its name (so later migrations that alter or drop them by name keep working), triggers, owner,
grants and comments. The primary key becomes ``(pgh_id, pgh_created_at)`` because Postgres
requires the partition key in it; Django keeps treating ``pgh_id`` as the primary key, which
stays unique since every id comes from one sequence.

One concept over 300 lines: the rebuild is one migration operation and each step depends on
the catalog state read before it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import NotSupportedError, connections, models, router, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.utils import CursorWrapper
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.utils import timezone

from pghistory_core import partitioning
from pghistory_core.meta import column, pk
from pghistory_core.sql_builders import literal, quote

__all__ = ["MIN_PG_VERSION", "PartitionEventTable", "partition_table", "unpartition_table"]

# Row-level BEFORE triggers (append_only) on partitioned tables arrived in PostgreSQL 13.
MIN_PG_VERSION = 130000
_TRIGGER_STATES = {
    "D": "DISABLE TRIGGER",
    "R": "ENABLE REPLICA TRIGGER",
    "A": "ENABLE ALWAYS TRIGGER",
}


@dataclass
class _Trigger:
    name: str
    sql: str
    comment: str | None
    state: str


@dataclass
class _Shape:
    """What a rebuilt table must get back, read from the catalog before the rebuild."""

    owner: str
    comment: str | None
    columns: str
    pk_name: str | None = None
    # Index-backed constraints and plain indexes are dropped from the old table to free names.
    old_constraints: list[str] = field(default_factory=list)
    old_indexes: list[str] = field(default_factory=list)
    constraints: list[tuple[str, str]] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)
    triggers: list[_Trigger] = field(default_factory=list)
    grants: list[tuple[str, str]] = field(default_factory=list)  # (privilege, grantee clause)


def _check_database(using: str) -> None:
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise NotSupportedError("Partitioned event tables need PostgreSQL.")
    version = int(getattr(connection, "pg_version", 0))
    if version < MIN_PG_VERSION:
        raise NotSupportedError(
            "Partitioned event tables need PostgreSQL 13 or newer (row triggers on partitioned "
            f"tables); database {using!r} runs {version // 10000}."
        )


def _created_column(model: type[models.Model]) -> str:
    try:
        return column(model, "pgh_created_at")
    except FieldDoesNotExist:
        raise ValueError(
            f"{model._meta.label} is not an event model (no pgh_created_at)."
        ) from None


def _unique_error(model: type[models.Model], name: str) -> ValueError:
    return ValueError(
        f"{model._meta.label}: unique index or constraint {name!r} does not include "
        "pgh_created_at, which a partitioned table requires; remove it first."
    )


def _capture(
    cursor: CursorWrapper, model: type[models.Model], oid: int, to_partitioned: bool
) -> _Shape:
    created = _created_column(model)
    cursor.execute(
        "SELECT pg_get_userbyid(relowner), obj_description(oid, 'pg_class'), "
        "(SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        " WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped AND attgenerated = '') "
        "FROM pg_class AS c WHERE oid = %s",
        [oid],
    )
    owner, comment, columns = cursor.fetchone()
    shape = _Shape(owner=owner, comment=comment, columns=columns)
    cursor.execute(
        "SELECT k.conname, k.contype, pg_get_constraintdef(k.oid), "
        "COALESCE(a.attnum = ANY(k.conkey), false) FROM pg_constraint AS k "
        "LEFT JOIN pg_attribute AS a ON a.attrelid = k.conrelid AND a.attname = %s "
        "WHERE k.conrelid = %s AND k.contype IN ('p', 'c', 'f', 'u', 'x') ORDER BY k.conname",
        [created, oid],
    )
    for name, kind, definition, has_created in cursor.fetchall():
        if kind == "p":
            shape.pk_name = name
        elif kind in ("u", "x") and to_partitioned and not has_created:
            raise _unique_error(model, name)
        else:
            shape.constraints.append((name, definition))
        if kind in ("p", "u", "x"):
            shape.old_constraints.append(name)
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, c.relname, pg_get_indexdef(i.indexrelid), "
        "i.indisunique, COALESCE(a.attnum = ANY(i.indkey::int2[]), false) FROM pg_index AS i "
        "JOIN pg_class AS c ON c.oid = i.indexrelid "
        "LEFT JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attname = %s "
        "WHERE i.indrelid = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint AS k "
        "WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x')) ORDER BY c.relname",
        [created, oid],
    )
    for regclass, name, definition, unique, has_created in cursor.fetchall():
        if unique and to_partitioned and not has_created:
            raise _unique_error(model, name)
        shape.old_indexes.append(regclass)
        # A partitioned parent's index reads "ON ONLY t"; rebuilt, it must cover the partitions.
        shape.indexes.append(definition.replace(" ON ONLY ", " ON ", 1))
    cursor.execute(
        "SELECT tgname, pg_get_triggerdef(oid), obj_description(oid, 'pg_trigger'), tgenabled "
        "FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal AND tgparentid = 0 "
        "ORDER BY tgname",
        [oid],
    )
    shape.triggers = [_Trigger(*row) for row in cursor.fetchall()]
    cursor.execute(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
        "ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.privilege_type, a.is_grantable "
        "FROM pg_class AS c CROSS JOIN LATERAL aclexplode(c.relacl) AS a WHERE c.oid = %s",
        [oid],
    )
    shape.grants = [
        (privilege, f"{grantee}{' WITH GRANT OPTION' if grantable else ''}")
        for grantee, privilege, grantable in cursor.fetchall()
    ]
    return shape


def _registered_model(model: type[models.Model]) -> type[models.Model] | None:
    """The model of the app registry (with its pgtrigger triggers) behind a historical one."""
    try:
        real = apps.get_model(model._meta.app_label, model._meta.object_name)
    except LookupError:
        return None
    return real if real._meta.db_table == model._meta.db_table else None


def _restore_triggers(
    cursor: CursorWrapper, model: type[models.Model], using: str, shape: _Shape
) -> None:
    table = quote(model._meta.db_table)
    real = _registered_model(model)
    registered: dict[str, Any] = {}
    if real is not None:
        registered = {t.get_pgid(real): t for t in getattr(real._meta, "triggers", [])}
    for trigger in shape.triggers:
        pgtrigger_trigger = registered.get(trigger.name)
        if pgtrigger_trigger is not None and pgtrigger_trigger.allow_migrate(real, database=using):
            pgtrigger_trigger.install(real, database=using)
        else:
            # Not (or no longer) registered: put back the definition that was installed.
            cursor.execute(trigger.sql)
            if trigger.comment is not None:
                cursor.execute(
                    f"COMMENT ON TRIGGER {quote(trigger.name)} ON {table} "
                    f"IS {literal(trigger.comment)}"
                )
        if trigger.state in _TRIGGER_STATES:
            cursor.execute(
                f"ALTER TABLE {table} {_TRIGGER_STATES[trigger.state]} {quote(trigger.name)}"
            )


def _create_ranges(
    cursor: CursorWrapper,
    model: type[models.Model],
    source: str,
    interval: str,
    premake: int,
    now: datetime.datetime,
) -> None:
    table = model._meta.db_table
    floors = partitioning.data_floors(cursor, source, _created_column(model), interval)
    for lower, upper in partitioning.plan(floors, now, interval, premake):
        cursor.execute(
            f"CREATE TABLE {quote(partitioning.range_name(table, lower))} PARTITION OF "
            f"{quote(table)} FOR VALUES FROM ({partitioning.bound(lower)}) "
            f"TO ({partitioning.bound(upper)})"
        )
    cursor.execute(
        f"CREATE TABLE {quote(partitioning.default_name(table))} PARTITION OF {quote(table)} DEFAULT"
    )


def _rebuild(
    model: type[models.Model],
    using: str,
    *,
    to_partitioned: bool,
    interval: str = "month",
    premake: int = 3,
    now: datetime.datetime | None = None,
) -> None:
    table = quote(model._meta.db_table)
    created = _created_column(model)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)::oid", [table])
        oid = cursor.fetchone()[0]
        if oid is None:
            raise ValueError(f"{model._meta.label}: table {table} does not exist.")
        cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        shape = _capture(cursor, model, oid, to_partitioned)
        old = quote(f"_pgh_old_{oid}")
        cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
        for name in shape.old_constraints:
            cursor.execute(f"ALTER TABLE {old} DROP CONSTRAINT {quote(name)}")
        for regclass in shape.old_indexes:
            cursor.execute(f"DROP INDEX {regclass}")
        partition_by = f" PARTITION BY RANGE ({quote(created)})" if to_partitioned else ""
        cursor.execute(
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING GENERATED "
            f"INCLUDING STORAGE INCLUDING COMMENTS){partition_by}"
        )
        key = [pk(model).column or "pgh_id", *([created] if to_partitioned else [])]
        constraint = f"CONSTRAINT {quote(shape.pk_name)} " if shape.pk_name else ""
        cursor.execute(
            f"ALTER TABLE {table} ADD {constraint}PRIMARY KEY ({', '.join(map(quote, key))})"
        )
        for name, definition in shape.constraints:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}")
        if to_partitioned:
            _create_ranges(cursor, model, old, interval, premake, now or timezone.now())
        cursor.execute(f"INSERT INTO {table} ({shape.columns}) SELECT {shape.columns} FROM {old}")
        for definition in shape.indexes:
            cursor.execute(definition)
        cursor.execute(f"DROP TABLE {old}")
        _restore_triggers(cursor, model, using, shape)
        cursor.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(%s)", [table]
        )
        if cursor.fetchone()[0] != shape.owner:
            cursor.execute(f"ALTER TABLE {table} OWNER TO {quote(shape.owner)}")
        for privilege, grantee in shape.grants:
            cursor.execute(f"GRANT {privilege} ON {table} TO {grantee}")
        if shape.comment is not None:
            cursor.execute(f"COMMENT ON TABLE {table} IS {literal(shape.comment)}")
        # Autovacuum never analyzes a partitioned parent; plans need its statistics.
        cursor.execute(f"ANALYZE {table}")


def partition_table(
    event_model: type[models.Model],
    *,
    interval: str = "month",
    premake: int = 3,
    now: datetime.datetime | None = None,
    using: str | None = None,
) -> list[str]:
    """Range-partition ``event_model``'s table on ``pgh_created_at``; returns the partition names.

    Existing rows move into partitions covering them; the current and ``premake`` future ranges
    and a default partition are created too. Runs in one transaction, locking the table.
    """
    using = using or router.db_for_write(event_model)
    partitioning.check_interval(interval)
    partitioning.check_premake(premake)
    _check_database(using)
    if partitioning.is_partitioned(event_model, using=using):
        raise ValueError(f"{event_model._meta.label} is already partitioned.")
    _rebuild(event_model, using, to_partitioned=True, interval=interval, premake=premake, now=now)
    return [p.name for p in partitioning.partitions(event_model, using=using)]


def unpartition_table(event_model: type[models.Model], *, using: str | None = None) -> None:
    """Convert ``event_model``'s partitioned table back to a plain table with the same data."""
    using = using or router.db_for_write(event_model)
    _check_database(using)
    if not partitioning.is_partitioned(event_model, using=using):
        raise partitioning.NotPartitionedError(f"{event_model._meta.label} is not partitioned.")
    _rebuild(event_model, using, to_partitioned=False)


class PartitionEventTable(Operation):
    """Range-partition an event table on ``pgh_created_at`` (reversible; state unchanged).

    Add it to a migration of the app owning the event model, then run
    ``manage.py pghistory_partitions premake`` regularly to create future partitions.
    """

    reversible = True
    # It reads the table to choose partitions: ``sqlmigrate`` cannot show it as SQL.
    reduces_to_sql = False

    def __init__(self, model_name: str, interval: str = "month", premake: int = 3) -> None:
        self.model_name = model_name
        self.interval = partitioning.check_interval(interval)
        self.premake = partitioning.check_premake(premake)

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        if self.interval != "month":
            kwargs["interval"] = self.interval
        if self.premake != 3:
            kwargs["premake"] = self.premake
        return self.__class__.__qualname__, [self.model_name], kwargs

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        """Nothing changes for Django: the model keeps ``pgh_id`` as its primary key."""

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        alias = schema_editor.connection.alias
        if self.allow_migrate_model(alias, model):
            partition_table(model, interval=self.interval, premake=self.premake, using=alias)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        alias = schema_editor.connection.alias
        if self.allow_migrate_model(alias, model):
            unpartition_table(model, using=alias)

    def describe(self) -> str:
        return f"Partition the table of {self.model_name} by pgh_created_at ({self.interval})"

    @property
    def migration_name_fragment(self) -> str:
        return f"partition_{self.model_name.lower()}"
