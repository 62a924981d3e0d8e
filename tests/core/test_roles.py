"""Who may touch history: an application role, the tables' owner and a superuser, each a real
login role on the test server (the suite itself runs as the superuser that owns the tables)."""

from __future__ import annotations

import datetime
import json
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pgtrigger
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.backends.postgresql.psycopg_any import is_psycopg3
from django.utils import timezone

import pghistory_core
from pghistory_core.append_only import BypassRefused
from pghistory_core.hash_chain import verify
from pghistory_core.models import Context
from pghistory_core.pruning import prune_older_than
from tests.testapp.models import Author, LedgerEntry, LedgerEntryEvent, Note, NoteEvent

if is_psycopg3:
    import psycopg as driver
else:  # pragma: no cover - the psycopg2 session
    import psycopg2 as driver  # type: ignore[no-redef]

pytestmark = pytest.mark.django_db(transaction=True)


class Session:
    """A login of its own as ``role``: statements run in one transaction each, like a client."""

    def __init__(self, role: str) -> None:
        settings = connection.settings_dict
        self.role = role
        self.conn = driver.connect(
            dbname=settings["NAME"],
            user=role,
            host=settings["HOST"] or "localhost",
            port=str(settings["PORT"] or 5432),
        )

    def run(self, *statements: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run ``statements`` in one transaction; the rows of the last; roll back on error."""
        rows: list[tuple[Any, ...]] = []
        try:
            with self.conn.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql, params if sql is statements[-1] else None)
                    rows = cursor.fetchall() if cursor.description else []
            self.conn.commit()
        except driver.Error:
            self.conn.rollback()
            raise
        return rows

    def close(self) -> None:
        self.conn.close()


def _admin(*statements: str) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def _new_role(kind: str) -> str:
    role = f"pgh_{kind}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _admin(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS")
    return role


def _drop_role(role: str) -> None:
    _admin(f"DROP OWNED BY {role}", f"DROP ROLE {role}")


@pytest.fixture
def app_role() -> Iterator[str]:
    """An application role: DML on every table and the sequences, owner of nothing."""
    role = _new_role("app")
    _admin(
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    )
    yield role
    _drop_role(role)


@pytest.fixture
def app(app_role: str) -> Iterator[Session]:
    session = Session(app_role)
    # Not a superuser, owns nothing: what the rest of this module relies on.
    assert session.run("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [(False,)]
    yield session
    session.close()


@pytest.fixture
def owner_role() -> Iterator[str]:
    """A non-superuser role made owner of testapp_noteevent for the test (given back after)."""
    role = _new_role("owner")
    _admin(
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"ALTER TABLE testapp_noteevent OWNER TO {role}",
    )
    yield role
    _admin("ALTER TABLE testapp_noteevent OWNER TO CURRENT_USER")
    _drop_role(role)


def _trigger_names(session: Session, table: str) -> str:
    """What an attacker reads from pg_trigger: every trigger of ``table``, as pgtrigger.ignore."""
    rows = session.run(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
        params=[table],
    )
    return "{" + ",".join(row[0] for row in rows) + "}"


def _ignore_all(session: Session, table: str) -> str:
    names = _trigger_names(session, table)
    return f"SET LOCAL pgtrigger.ignore = '{names}'"


def _pgid(model: Any, name: str) -> str:
    return next(t for t in model._meta.triggers if t.name == name).get_pgid(model)


def _refused(session: Session, *statements: str, match: str) -> None:
    with pytest.raises(driver.Error, match=match):
        session.run(*statements)


# An event of a year ago with a low pgh_id: the chain trigger, if it runs, replaces both.
_FORGED_INSERT = (
    "INSERT INTO testapp_ledgerentryevent (pgh_id, pgh_created_at, pgh_label, pgh_obj_id, id,"
    " account, amount, data) VALUES (1, now() - interval '1 year', 'insert', 1, 1, 'forged', 1,"
    " '{}')"
)


def _entry(n: int) -> LedgerEntry:
    return LedgerEntry.objects.create(
        account=f"acc-{n}",
        amount=Decimal("10.00") + n,
        booked_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )


# 1. Append-only: the application role cannot lift it.


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE testapp_noteevent SET text = 'forged'",
        "DELETE FROM testapp_noteevent",
        "UPDATE testapp_ledgerentryevent SET amount = 0",
        "DELETE FROM testapp_ledgerentryevent",
    ],
)
def test_app_role_cannot_bypass_append_only_with_pgtrigger_ignore(app, sql):
    Note.objects.create(text="kept")
    _entry(1)
    table = sql.split()[1] if sql.startswith("UPDATE") else sql.split()[2]
    _refused(app, _ignore_all(app, table), sql, match="Cannot update or delete")
    assert list(NoteEvent.objects.values_list("text", flat=True)) == ["kept"]
    assert verify(LedgerEntryEvent).ok


def test_app_role_cannot_truncate_even_when_granted(app, app_role):
    Note.objects.create(text="kept")
    _refused(app, "TRUNCATE testapp_noteevent", match="permission denied")
    _admin(f"GRANT TRUNCATE ON testapp_noteevent TO {app_role}")
    _refused(
        app,
        _ignore_all(app, "testapp_noteevent"),
        "TRUNCATE testapp_noteevent",
        match="Cannot truncate",
    )
    assert NoteEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("sql", "match"),
    [
        ("SET session_replication_role = replica", "permission denied"),
        ("SET LOCAL session_replication_role = replica", "permission denied"),
        ("ALTER TABLE testapp_noteevent DISABLE TRIGGER ALL", "must be owner"),
        ("ALTER TABLE testapp_noteevent DISABLE TRIGGER USER", "must be owner"),
        ("DROP TRIGGER {pgid} ON testapp_noteevent", "must be owner"),
        ("DROP TABLE testapp_noteevent", "must be owner"),
        (
            "CREATE OR REPLACE FUNCTION {pgid}() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$",
            "must be owner|permission denied for schema",
        ),
        ("SET ROLE postgres", "permission denied"),
        ("SET SESSION AUTHORIZATION postgres", "permission denied"),
    ],
)
def test_app_role_cannot_switch_the_triggers_off(app, sql, match):
    Note.objects.create(text="kept")
    sql = sql.format(pgid=_pgid(NoteEvent, "append_only"))
    _refused(app, sql, "DELETE FROM testapp_noteevent", match=match)
    assert NoteEvent.objects.count() == 1


def test_a_security_definer_function_of_the_owner_does_not_lend_its_bypass(app, app_role):
    """A function running as the owner on the application's behalf (or a foreign key cascade,
    which runs as the owner too) must not honour the application's pgtrigger.ignore."""
    Note.objects.create(text="kept")
    _admin(
        "CREATE FUNCTION pgh_test_cleanup() RETURNS void SECURITY DEFINER LANGUAGE sql "
        "AS $$ DELETE FROM testapp_noteevent $$",
        f"GRANT EXECUTE ON FUNCTION pgh_test_cleanup() TO {app_role}",
    )
    try:
        _refused(
            app,
            _ignore_all(app, "testapp_noteevent"),
            "SELECT pgh_test_cleanup()",
            match="Cannot update or delete",
        )
    finally:
        _admin("DROP FUNCTION pgh_test_cleanup()")
    assert NoteEvent.objects.count() == 1


def test_a_foreign_key_cascade_does_not_lend_the_owners_bypass(app, app_role):
    """A cascade runs as the owner of the referencing table, whatever role deleted the parent."""
    Note.objects.create(text="kept")
    _admin(
        "CREATE TABLE pgh_test_parent (id int PRIMARY KEY)",
        "INSERT INTO pgh_test_parent VALUES (1)",
        "ALTER TABLE testapp_noteevent ADD COLUMN pgh_test_parent_id int "
        "REFERENCES pgh_test_parent ON DELETE CASCADE",
        f"GRANT SELECT, DELETE ON pgh_test_parent TO {app_role}",
    )
    try:
        with pghistory_core.bypass_append_only(NoteEvent):
            _admin("UPDATE testapp_noteevent SET pgh_test_parent_id = 1")
        _refused(
            app,
            _ignore_all(app, "testapp_noteevent"),
            "DELETE FROM pgh_test_parent",
            match="Cannot update or delete",
        )
        assert NoteEvent.objects.count() == 1
    finally:
        _admin(
            "ALTER TABLE testapp_noteevent DROP COLUMN pgh_test_parent_id",
            "DROP TABLE pgh_test_parent",
        )


def test_app_role_cannot_slip_an_unhashed_event_into_the_chain(app):
    for n in range(3):
        _entry(n)
    app.run(
        _ignore_all(app, "testapp_ledgerentryevent"),
        _FORGED_INSERT,
    )
    forged = LedgerEntryEvent.objects.get(account="forged")
    # The trigger ran: a fresh pgh_id at the head of the chain, and a hash.
    assert forged.pgh_id != 1 and forged.pgh_hash
    assert forged.pgh_id == LedgerEntryEvent.objects.order_by("-pgh_id").first().pgh_id
    report = verify(LedgerEntryEvent)
    assert report.ok, str(report)
    assert report.unchained == 0


def test_owner_may_bypass_and_so_may_a_member_of_its_role(owner_role):
    Note.objects.create(text="old")
    Note.objects.create(text="older")
    owner = Session(owner_role)
    member_role = _new_role("pruner")
    _admin(f"GRANT {owner_role} TO {member_role}")
    member = Session(member_role)
    try:
        _refused(owner, "DELETE FROM testapp_noteevent WHERE text = 'old'", match="Cannot")
        owner.run(
            _ignore_all(owner, "testapp_noteevent"),
            "DELETE FROM testapp_noteevent WHERE text = 'old'",
        )
        member.run(
            _ignore_all(member, "testapp_noteevent"),
            "DELETE FROM testapp_noteevent WHERE text = 'older'",
        )
        # The owner may also switch the trigger off: the bypass lends nothing more than that.
        owner.run("ALTER TABLE testapp_noteevent DISABLE TRIGGER USER")
        owner.run("ALTER TABLE testapp_noteevent ENABLE TRIGGER USER")
    finally:
        owner.close()
        member.close()
        _drop_role(member_role)
    assert NoteEvent.objects.count() == 0


def test_documented_prune_works_for_the_owner_and_is_refused_clearly_to_others(app_role):
    Note.objects.create(text="old")
    cutoff = timezone.now() + datetime.timedelta(seconds=1)
    with transaction.atomic():
        _admin(f"SET LOCAL ROLE {app_role}")
        with pytest.raises(
            BypassRefused, match=f"Role '{app_role}'.*does not own testapp_noteevent"
        ):
            prune_older_than(NoteEvent, cutoff, allow_append_only=True)
        _admin("RESET ROLE")
    assert NoteEvent.objects.count() == 1
    # The suite's own role owns the tables: the documented bypass works.
    assert prune_older_than(NoteEvent, cutoff, allow_append_only=True) == 1
    assert NoteEvent.objects.count() == 0


# 2. Attribution: whom an event is attributed to is part of the record.


def _chained_in_context(**metadata: Any) -> uuid.UUID:
    with pghistory_core.context(**metadata) as ctx:
        _entry(1)
        _entry(2)
    assert ctx.id is not None
    return ctx.id


@pytest.mark.parametrize(
    "sql",
    [
        'UPDATE pghistory_core_context SET metadata = \'{"user": 999, "url": "/forged/"}\'',
        "UPDATE pghistory_core_context SET metadata = metadata || '{\"user\": 999}'",
        "UPDATE pghistory_core_context SET metadata = metadata - 'user'",
        "UPDATE pghistory_core_context SET id = gen_random_uuid()",
        "DELETE FROM pghistory_core_context",
    ],
)
def test_app_role_cannot_rewrite_a_context(app, sql):
    context_id = _chained_in_context(user=1, url="/orders/")
    _refused(app, _ignore_all(app, "pghistory_core_context"), sql, match="Cannot")
    assert Context.objects.get(pk=context_id).metadata == {"user": 1, "url": "/orders/"}
    assert verify(LedgerEntryEvent).ok


def test_app_role_cannot_rewrite_a_context_through_the_context_settings(app):
    """The trigger path: claim a recorded context's id with forged metadata and write."""
    context_id = _chained_in_context(user=1, url="/orders/")
    forged = json.dumps({"user": 999, "url": "/forged/", "note": "added"})
    app.run(
        f"SELECT set_config('pghistory_core.context_id', '{context_id}', true), "
        f"set_config('pghistory_core.context_metadata', '{forged}', true)",
        "INSERT INTO testapp_author (name, email) VALUES ('x', '')",
    )
    assert Author.objects.count() == 1
    # Recorded keys kept their values; a context can only gain keys.
    assert Context.objects.get(pk=context_id).metadata == {
        "user": 1,
        "url": "/orders/",
        "note": "added",
    }
    report = verify(LedgerEntryEvent)
    assert report.ok, str(report)
    assert report.attribution_grown == 2


def test_emptying_the_context_table_is_detected_by_verify(app, app_role):
    """TRUNCATE fires no row trigger (and Django's test flush needs it): a role granted it can
    empty the table, and the chain then reports every chained event's attribution as changed."""
    _chained_in_context(user=1)
    _admin(f"GRANT TRUNCATE ON pghistory_core_context TO {app_role}")
    app.run("TRUNCATE pghistory_core_context")
    report = verify(LedgerEntryEvent)
    assert not report.ok
    assert report.attribution_changed_at == LedgerEntryEvent.objects.order_by("pgh_id")[0].pgh_id
    assert "ATTRIBUTION CHANGED" in str(report)


def test_a_rewritten_context_is_detected_by_verify():
    """The owner (or a superuser) can lift the guard; the chain still tells."""
    context_id = _chained_in_context(user=1, url="/orders/")
    first = LedgerEntryEvent.objects.order_by("pgh_id").first()
    with pgtrigger.ignore("pghistory_core.Context:context_guard"), connection.cursor() as cursor:
        cursor.execute(
            'UPDATE pghistory_core_context SET metadata = \'{"user": 999, "url": "/orders/"}\''
            " WHERE id = %s",
            [context_id],
        )
    assert Context.objects.get(pk=context_id).metadata["user"] == 999
    report = verify(LedgerEntryEvent)
    assert not report.ok
    assert first.pgh_context_snapshot == {"user": 1, "url": "/orders/"}
    assert report.attribution_changed_at == first.pgh_id
    assert "ATTRIBUTION CHANGED" in str(report)
    # Rewriting the snapshot too breaks the chain.
    with pghistory_core.bypass_append_only(LedgerEntryEvent), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE testapp_ledgerentryevent SET pgh_context_snapshot = "
            '\'{"user": 999, "url": "/orders/"}\''
        )
    assert verify(LedgerEntryEvent).broken_at == first.pgh_id


def test_nested_contexts_are_not_reported_as_tampering():
    with pghistory_core.context(user=1):
        _entry(1)
        with pghistory_core.context(task="import"):
            _entry(2)
        pghistory_core.context(reason="cleanup")
        _entry(3)
    snapshots = list(
        LedgerEntryEvent.objects.order_by("pgh_id").values_list("pgh_context_snapshot", flat=True)
    )
    assert snapshots == [
        {"user": 1},
        {"user": 1, "task": "import"},
        {"user": 1, "task": "import", "reason": "cleanup"},
    ]
    report = verify(LedgerEntryEvent)
    assert report.ok, str(report)
    assert (report.attribution_checked, report.attribution_grown) == (3, 2)
    assert (
        "context metadata of 3 events as recorded (2 of their contexts gained keys since)"
        in str(report)
    )


def test_a_nested_context_cannot_change_a_recorded_key():
    """django-pghistory 3.x let an inner block replace a recorded value for every event of the
    context; here the value recorded first stays (the events written are attributed to it)."""
    with pghistory_core.context(user=1):
        _entry(1)
        with pghistory_core.context(user=2, task="import"):
            _entry(2)
    assert Context.objects.get().metadata == {"user": 1, "task": "import"}
    assert verify(LedgerEntryEvent).ok


# 3. Events that should not be there.


def test_a_forged_event_before_the_chain_start_fails_verify():
    for n in range(3):
        _entry(n)
    assert verify(LedgerEntryEvent).ok
    # Only the owner or a superuser can still do this (the suite runs as the superuser).
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE testapp_ledgerentryevent DISABLE TRIGGER USER")
        cursor.execute(_FORGED_INSERT)
        cursor.execute("ALTER TABLE testapp_ledgerentryevent ENABLE TRIGGER USER")
    report = verify(LedgerEntryEvent)
    assert not report.ok
    assert report.unchained == 1
    assert "FORGED OR UNVERIFIABLE" in str(report)
    assert "but the chain started after 0" in str(report)


def test_changing_the_seal_of_the_chain_start_breaks_it():
    for n in range(3):
        _entry(n)
    first = LedgerEntryEvent.objects.order_by("pgh_id").first()
    assert first.pgh_chain_seal == {"events": 0, "last_pgh_id": None}
    with pghistory_core.bypass_append_only(LedgerEntryEvent), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE testapp_ledgerentryevent SET pgh_chain_seal = "
            '\'{"events": 1, "last_pgh_id": 1}\' WHERE pgh_id = %s',
            [first.pgh_id],
        )
    assert verify(LedgerEntryEvent).broken_at == first.pgh_id
    # Removing it leaves unchained events unaccounted for.
    with (
        transaction.atomic(),
        pghistory_core.bypass_append_only(LedgerEntryEvent),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE testapp_ledgerentryevent SET pgh_chain_seal = NULL WHERE pgh_id = %s",
            [first.pgh_id],
        )
        cursor.execute("ALTER TABLE testapp_ledgerentryevent DISABLE TRIGGER USER")
        cursor.execute(_FORGED_INSERT)
        cursor.execute("ALTER TABLE testapp_ledgerentryevent ENABLE TRIGGER USER")
    report = verify(LedgerEntryEvent)
    assert not report.ok
    assert "recorded no seal" in str(report)


def test_verify_says_what_it_checked(capsys):
    for n in range(2):
        _entry(n)
    call_command("pghistory_verify")
    out = capsys.readouterr().out
    assert "testapp.LedgerEntryEvent: 2 events, chain from pgh_id " in out
    assert " intact, " in out


def test_verify_says_when_nothing_is_chained(capsys, monkeypatch):
    from pghistory_core.management.commands import pghistory_verify

    monkeypatch.setattr(pghistory_verify, "chained_models", lambda models: [])
    call_command("pghistory_verify")
    assert capsys.readouterr().out == (
        "Nothing verified: no event model keeps a hash chain (track(hash_chain=True) or "
        "PGHISTORY_HASH_CHAIN = True).\n"
    )
