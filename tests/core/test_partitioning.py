"""Range-partitioned event tables: conversion, premaking, retention by partition, the command.

Each test converts a test event table inside the test transaction: DDL is transactional in
Postgres, so the rollback restores the plain table.
"""

import datetime
import io
import logging

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import (
    InternalError,
    NotSupportedError,
    ProgrammingError,
    connection,
    connections,
    transaction,
)
from django.db.migrations import Migration
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.db.migrations.writer import MigrationWriter
from django.utils import timezone

import pghistory_core
from pghistory_core import partitioning
from pghistory_core.models import Events
from pghistory_core.operations import PartitionEventTable, partition_table, unpartition_table
from pghistory_core.partitioning import (
    AppendOnlyError,
    NotPartitionedError,
    create_partitions,
    drop_partitions,
    is_partitioned,
    partitions,
)
from tests.testapp.models import Author, AuthorEvent, Note, NoteEvent

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
UTC = datetime.UTC


def _rows(sql, params=(), using="default"):
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _execute(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)


def _partition_of(model, pgh_id):
    table = model._meta.db_table
    return _rows(f"SELECT tableoid::regclass::text FROM {table} WHERE pgh_id = %s", [pgh_id])[0][0]


def _index_names(model):
    return sorted(
        name
        for (name,) in _rows(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass",
            [model._meta.db_table],
        )
    )


def _primary_key(model):
    return _rows(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'p'",
        [model._meta.db_table],
    )[0]


def _age(model, days):
    model.objects.update(pgh_created_at=timezone.now() - datetime.timedelta(days=days))


def _raw_note_event(created_at, text="raw"):
    """An event of ``Note`` written with a chosen time (``auto_now_add`` would override it)."""
    note = Note.objects.create(text="source")
    return _rows(
        "INSERT INTO testapp_noteevent (pgh_created_at, pgh_label, pgh_obj_id, id, text) "
        "VALUES (%s, 'insert', %s, %s, %s) RETURNING pgh_id",
        [created_at, note.pk, note.pk, text],
    )[0][0]


def _name(model, moment, interval="month"):
    return partitioning.range_name(model._meta.db_table, partitioning.floor(moment, interval))


def _append_only():
    return next(t for t in NoteEvent._meta.triggers if t.name == "append_only")


def _append_only_status():
    return _append_only().get_installation_status(NoteEvent)


# Conversion ------------------------------------------------------------------------------


def test_conversion_keeps_rows_indexes_and_routes_new_events():
    old_author = Author.objects.create(name="old")
    _age(AuthorEvent, 70)
    author = Author.objects.create(name="new")
    before = list(AuthorEvent.objects.order_by("pgh_id").values())
    indexes = _index_names(AuthorEvent)
    pk_name = _primary_key(AuthorEvent)[0]

    names = partition_table(AuthorEvent, premake=2)

    assert _rows(
        "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'testapp_authorevent'::regclass"
    ) == [("r",)]
    assert is_partitioned(AuthorEvent)
    assert list(AuthorEvent.objects.order_by("pgh_id").values()) == before
    assert _index_names(AuthorEvent) == indexes
    assert _primary_key(AuthorEvent) == (pk_name, "PRIMARY KEY (pgh_id, pgh_created_at)")
    now = timezone.now()
    old_event = AuthorEvent.objects.get(pgh_obj=old_author)
    assert _partition_of(AuthorEvent, old_event.pgh_id) == _name(
        AuthorEvent, old_event.pgh_created_at
    )
    expected = {
        _name(AuthorEvent, old_event.pgh_created_at),
        *(
            _name(AuthorEvent, partitioning.advance(partitioning.floor(now, "month"), "month", n))
            for n in range(3)
        ),
        "testapp_authorevent_default",
    }
    assert set(names) == expected

    Author.objects.filter(pk=author.pk).update(email="new@example.com")
    update = AuthorEvent.objects.get(pgh_label="update")
    assert _partition_of(AuthorEvent, update.pgh_id) == _name(AuthorEvent, update.pgh_created_at)
    assert [e.pgh_label for e in AuthorEvent.objects.order_by("-pgh_id")[:2]] == [
        "update",
        "insert",
    ]
    stream = list(Events.objects.across(AuthorEvent).tracks(author).order_by("-pgh_id")[:5])
    assert [e.pgh_label for e in stream] == ["update", "insert"]
    assert stream[0].pgh_diff == {"email": ["", "new@example.com"]}
    assert author.events.count() == 2


def test_partitions_reports_bounds_and_estimates():
    Author.objects.bulk_create([Author(name=f"a{i}") for i in range(5)])
    now = timezone.now()
    partition_table(AuthorEvent, interval="day", premake=1, now=now)
    first, second, default = partitions(AuthorEvent)
    today = partitioning.floor(now, "day")
    assert (first.lower, first.upper, first.is_default) == (today, today + DAY, False)
    assert first.name == f"testapp_authorevent_p{today:%Y%m%d}"
    assert first.row_estimate == 5  # the conversion analyzes the new table
    assert (second.lower, second.upper) == (today + DAY, today + 2 * DAY)
    assert (default.name, default.is_default, default.lower, default.upper) == (
        "testapp_authorevent_default",
        True,
        None,
        None,
    )


def test_append_only_protection_survives_conversion():
    Note.objects.create(text="kept")
    partition_table(NoteEvent, interval="week", premake=0)
    assert _append_only_status() == ("INSTALLED", True)
    Note.objects.create(text="second")
    for statement in (
        lambda: NoteEvent.objects.update(text="forged"),
        lambda: NoteEvent.objects.all().delete(),
    ):
        with pytest.raises((InternalError, ProgrammingError), match="Cannot"), transaction.atomic():
            statement()
    assert sorted(NoteEvent.objects.values_list("text", flat=True)) == ["kept", "second"]
    with pghistory_core.bypass_append_only(NoteEvent):
        NoteEvent.objects.filter(text="kept").delete()
    assert list(NoteEvent.objects.values_list("text", flat=True)) == ["second"]


def test_catalog_details_are_carried_over():
    table = NoteEvent._meta.db_table
    _execute(f"GRANT SELECT ON {table} TO PUBLIC")
    _execute(f"COMMENT ON TABLE {table} IS 'who did what'")
    _execute(f"ALTER TABLE {table} ADD CONSTRAINT label_set CHECK (pgh_label <> '')")
    _execute(f"ALTER TABLE {table} DISABLE TRIGGER {_append_only().get_pgid(NoteEvent)}")
    # A trigger pgtrigger does not manage is put back as it was.
    _execute(
        "CREATE FUNCTION pg_temp.shout() RETURNS trigger AS $$ "
        "BEGIN NEW.text := upper(NEW.text); RETURN NEW; END $$ LANGUAGE plpgsql"
    )
    _execute(
        f"CREATE TRIGGER shout BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION pg_temp.shout()"
    )
    _execute(f"COMMENT ON TRIGGER shout ON {table} IS 'mine'")
    partition_table(NoteEvent)
    assert _rows(
        "SELECT a.privilege_type FROM pg_class AS c, aclexplode(c.relacl) AS a "
        "WHERE c.oid = %s::regclass AND a.grantee = 0",
        [table],
    ) == [("SELECT",)]
    assert _rows("SELECT obj_description(%s::regclass, 'pg_class')", [table]) == [("who did what",)]
    assert _rows(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'label_set' "
        "AND conrelid = %s::regclass",
        [table],
    ) == [("CHECK ((pgh_label <> ''::text))",)]
    assert _append_only_status() == ("INSTALLED", False)
    assert _rows(
        "SELECT obj_description(oid, 'pg_trigger') FROM pg_trigger WHERE tgname = 'shout' "
        "AND tgrelid = %s::regclass",
        [table],
    ) == [("mine",)]
    Note.objects.create(text="quiet")
    assert NoteEvent.objects.get().text == "QUIET"


def test_reverse_conversion_restores_a_plain_table():
    Note.objects.create(text="a")
    before = list(NoteEvent.objects.order_by("pgh_id").values())
    indexes = _index_names(NoteEvent)
    pk = _primary_key(NoteEvent)
    partition_table(NoteEvent)
    Note.objects.create(text="b")
    unpartition_table(NoteEvent)
    assert not is_partitioned(NoteEvent)
    assert _rows("SELECT relkind FROM pg_class WHERE oid = 'testapp_noteevent'::regclass") == [
        ("r",)
    ]
    assert _rows(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'testapp_noteevent'::regclass"
    ) == [(0,)]
    assert list(NoteEvent.objects.order_by("pgh_id").values())[:1] == before
    assert NoteEvent.objects.count() == 2
    assert _index_names(NoteEvent) == indexes
    assert _primary_key(NoteEvent) == pk
    assert _append_only_status() == ("INSTALLED", True)
    with pytest.raises((InternalError, ProgrammingError), match="Cannot"), transaction.atomic():
        NoteEvent.objects.all().delete()


# Premaking and moving rows out of the default partition ----------------------------------


def test_premake_is_idempotent_and_keeps_the_interval():
    now = timezone.now()
    partition_table(AuthorEvent, interval="day", premake=1, now=now)
    today = partitioning.floor(now, "day")
    created = create_partitions(AuthorEvent, premake=3, now=now)
    assert created == [
        f"testapp_authorevent_p{today + 2 * DAY:%Y%m%d}",
        f"testapp_authorevent_p{today + 3 * DAY:%Y%m%d}",
    ]
    assert create_partitions(AuthorEvent, premake=3, now=now) == []
    assert len(partitions(AuthorEvent)) == 5  # four days and the default


def test_premake_moves_rows_out_of_the_default_partition_of_an_append_only_table():
    Note.objects.create(text="now")
    now = timezone.now()
    partition_table(NoteEvent, premake=0, now=now)
    later = now + datetime.timedelta(days=70)
    stray = _raw_note_event(later, text="future")
    assert _partition_of(NoteEvent, stray) == "testapp_noteevent_default"

    created = create_partitions(NoteEvent, premake=0, now=now)

    assert created == [_name(NoteEvent, later)]
    assert _partition_of(NoteEvent, stray) == _name(NoteEvent, later)
    assert _rows("SELECT count(*) FROM testapp_noteevent_default") == [(0,)]
    assert NoteEvent.objects.get(pgh_id=stray).text == "future"
    # Moving was not a licence to delete: protection is back once the partition exists.
    with pytest.raises((InternalError, ProgrammingError), match="Cannot"), transaction.atomic():
        NoteEvent.objects.filter(pgh_id=stray).delete()


def test_premake_recreates_a_missing_default_partition():
    partition_table(AuthorEvent, premake=0)
    _execute("DROP TABLE testapp_authorevent_default")
    assert create_partitions(AuthorEvent, premake=0) == ["testapp_authorevent_default"]


# Retention ---------------------------------------------------------------------------------


def test_drop_partitions_older_than(caplog):
    Author.objects.create(name="old")
    _age(AuthorEvent, 100)
    Author.objects.create(name="new")
    now = timezone.now()
    partition_table(AuthorEvent, premake=1, now=now)
    old = _name(AuthorEvent, now - datetime.timedelta(days=100))

    with caplog.at_level(logging.WARNING, logger="pghistory_core.partitioning"):
        dropped = drop_partitions(AuthorEvent, older_than=now - datetime.timedelta(days=40))

    assert dropped == [old]
    assert old in caplog.text
    assert list(AuthorEvent.objects.values_list("name", flat=True)) == ["new"]
    assert old not in {p.name for p in partitions(AuthorEvent)}
    assert not _rows("SELECT 1 FROM pg_class WHERE relname = %s", [old])
    assert drop_partitions(AuthorEvent, older_than=now - datetime.timedelta(days=40)) == []


def test_dropping_partitions_of_an_append_only_table_needs_the_bypass():
    now = timezone.now()
    _raw_note_event(now - datetime.timedelta(days=100), text="old")
    partition_table(NoteEvent, now=now)
    cutoff = now - datetime.timedelta(days=40)
    with pytest.raises(AppendOnlyError, match="append-only"):
        drop_partitions(NoteEvent, older_than=cutoff)
    assert NoteEvent.objects.filter(text="old").exists()
    assert drop_partitions(NoteEvent, older_than=cutoff, allow_append_only=True) == [
        _name(NoteEvent, now - datetime.timedelta(days=100))
    ]
    assert not NoteEvent.objects.filter(text="old").exists()
    assert list(NoteEvent.objects.values_list("text", flat=True)) == ["source"]


# The migration operation -----------------------------------------------------------------


def test_operation_forwards_and_backwards():
    Note.objects.create(text="a")
    operation = PartitionEventTable("NoteEvent", interval="week", premake=1)
    state = ProjectState.from_apps(apps)
    new_state = state.clone()
    operation.state_forwards("testapp", new_state)
    assert new_state.models == state.models
    with connection.schema_editor() as editor:
        operation.database_forwards("testapp", editor, state, new_state)
    assert is_partitioned(NoteEvent)
    assert partitioning.infer_interval(partitions(NoteEvent)) == "week"
    assert _append_only_status() == ("INSTALLED", True)
    with connection.schema_editor() as editor:
        operation.database_backwards("testapp", editor, new_state, state)
    assert not is_partitioned(NoteEvent)
    assert NoteEvent.objects.get().text == "a"
    assert _append_only_status() == ("INSTALLED", True)


def _migration():
    migration = Migration("0002_partition_noteevent", "testapp")
    migration.dependencies = [("testapp", "0001_initial")]
    migration.operations = [PartitionEventTable("NoteEvent", premake=1)]
    return migration


def test_operation_in_a_migration():
    migration = _migration()
    written = MigrationWriter(migration).as_string()
    assert "import pghistory_core.operations" in written
    namespace = {}
    exec(written, namespace)  # noqa: S102 - the migration file just written
    (operation,) = namespace["Migration"].operations
    assert operation.deconstruct() == ("PartitionEventTable", ["NoteEvent"], {"premake": 1})
    state = MigrationLoader(connection).project_state(("testapp", "0001_initial"))
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        migration.apply(state.clone(), editor, collect_sql=True)
    assert "-- THIS OPERATION CANNOT BE WRITTEN AS SQL" in editor.collected_sql
    assert not is_partitioned(NoteEvent)  # sqlmigrate changed nothing
    with connection.schema_editor() as editor:
        migration.apply(state.clone(), editor)
    assert is_partitioned(NoteEvent)
    with connection.schema_editor() as editor:
        migration.unapply(state.clone(), editor)
    assert not is_partitioned(NoteEvent)


def test_operation_description():
    operation = PartitionEventTable("ProductEvent", interval="day")
    assert operation.reversible
    assert not operation.reduces_to_sql
    assert operation.deconstruct() == ("PartitionEventTable", ["ProductEvent"], {"interval": "day"})
    assert PartitionEventTable("ProductEvent").deconstruct()[2] == {}
    assert operation.migration_name_fragment == "partition_productevent"
    assert "ProductEvent" in operation.describe()


def test_operation_needs_postgres_13(monkeypatch):
    monkeypatch.setattr(connection, "pg_version", 120011)
    with pytest.raises(NotSupportedError, match="PostgreSQL 13"):
        partition_table(AuthorEvent)
    assert not is_partitioned(AuthorEvent)


@pytest.mark.django_db(databases=["default", "other"])
def test_conversion_on_another_alias():
    partition_table(AuthorEvent, using="other")
    assert is_partitioned(AuthorEvent, using="other")
    assert not is_partitioned(AuthorEvent)


# Bad input ---------------------------------------------------------------------------------


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="interval must be one of day, week, month"):
        PartitionEventTable("AuthorEvent", interval="year")
    with pytest.raises(ValueError, match="premake"):
        PartitionEventTable("AuthorEvent", premake=-1)
    with pytest.raises(ValueError, match="premake"):
        partition_table(AuthorEvent, premake=-1)
    with pytest.raises(ValueError, match="interval"):
        partition_table(AuthorEvent, interval="quarter")
    with pytest.raises(NotPartitionedError, match="PartitionEventTable"):
        create_partitions(AuthorEvent)
    with pytest.raises(NotPartitionedError):
        unpartition_table(AuthorEvent)
    with pytest.raises(NotPartitionedError):
        drop_partitions(AuthorEvent, older_than=timezone.now())
    partition_table(AuthorEvent)
    with pytest.raises(ValueError, match="already partitioned"):
        partition_table(AuthorEvent)
    with pytest.raises(ValueError, match="aware"):
        drop_partitions(AuthorEvent, older_than=datetime.datetime(2020, 1, 1))
    with pytest.raises(ValueError, match="interval"):
        create_partitions(AuthorEvent, interval="hour")


def test_unique_index_without_the_partition_key_is_refused():
    _execute("CREATE UNIQUE INDEX authorevent_id_once ON testapp_authorevent (id, pgh_label)")
    with pytest.raises(ValueError, match="authorevent_id_once"):
        partition_table(AuthorEvent)
    assert not is_partitioned(AuthorEvent)


# Helpers -----------------------------------------------------------------------------------


def test_bounds_and_names():
    sunday = datetime.datetime(2024, 12, 29, 23, 30, tzinfo=UTC)
    assert partitioning.floor(sunday, "week") == datetime.datetime(2024, 12, 23, tzinfo=UTC)
    assert partitioning.floor(sunday, "month") == datetime.datetime(2024, 12, 1, tzinfo=UTC)
    december = datetime.datetime(2024, 12, 1, tzinfo=UTC)
    assert partitioning.advance(december, "month") == datetime.datetime(2025, 1, 1, tzinfo=UTC)
    assert partitioning.advance(december, "month", 14) == datetime.datetime(2026, 2, 1, tzinfo=UTC)
    # Bounds are UTC whatever the offset of the given moment.
    paris = datetime.timezone(datetime.timedelta(hours=1))
    assert (
        partitioning.floor(datetime.datetime(2025, 1, 1, 0, 30, tzinfo=paris), "month") == december
    )
    long_table = "t" * 60
    name = partitioning.range_name(long_table, december)
    assert len(name) == 63 and name.endswith("_p20241201")
    assert name != partitioning.range_name("t" * 61, december)


# The command -------------------------------------------------------------------------------


def _command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("pghistory_partitions", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_list_premake_and_drop():
    assert _command("list") == ("No partitioned event tables.\n", "")
    Author.objects.create(name="old")
    _age(AuthorEvent, 100)
    now = timezone.now()
    partition_table(AuthorEvent, premake=0, now=now)
    partition_table(NoteEvent, interval="day", premake=0, now=now)
    old = _name(AuthorEvent, now - datetime.timedelta(days=100))

    out, _ = _command("list")
    assert "testapp.AuthorEvent (testapp_authorevent):" in out
    assert f"  {old}  " in out and "~1 rows" in out
    assert "testapp_noteevent_default  DEFAULT  ~0 rows" in out

    out, _ = _command("premake", "--count", "2", "testapp.NoteEvent")
    today = partitioning.floor(now, "day")
    assert out == (
        f"testapp.NoteEvent: created testapp_noteevent_p{today + DAY:%Y%m%d}, "
        f"testapp_noteevent_p{today + 2 * DAY:%Y%m%d}\n"
    )
    out, _ = _command("premake", "--count", "2", "testapp.NoteEvent")
    assert out == "testapp.NoteEvent: created nothing\n"

    out, err = _command("drop", "--older-than-days", "40")
    assert out == f"testapp.AuthorEvent: dropped {old}\n"
    assert "skipped: testapp.NoteEvent is append-only" in err
    out, _ = _command("drop", "--older-than-days", "0", "--bypass-append-only", "testapp.noteevent")
    assert out == "testapp.NoteEvent: dropped nothing\n"  # today's partition is not over yet


def test_command_errors():
    with pytest.raises(CommandError, match=r"Not event models: testapp\.author"):
        _command("list", "testapp.Author")
    with pytest.raises(CommandError, match=r"Not partitioned: testapp\.AuthorEvent"):
        _command("premake", "testapp.AuthorEvent")
    with pytest.raises(CommandError, match="older-than-days"):
        _command("drop")
    with pytest.raises(CommandError, match="invalid choice"):
        _command("split")
    partition_table(AuthorEvent)
    with pytest.raises(CommandError, match="--count"):
        _command("premake", "--count", "-1")
