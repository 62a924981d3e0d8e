"""Writes made outside Django record their database session as their context, and no session
can claim another's (each role here is a real login role on the test server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.test import override_settings

from pghistory_core import attribution, sql
from pghistory_core.models import Context
from tests.core.test_roles import Session, driver
from tests.db_sessions import attributed as _attributed
from tests.db_sessions import install as _install
from tests.db_sessions import login_role
from tests.db_sessions import psql_as as _psql_as
from tests.testapp.models import Author, AuthorEvent, Document, DocumentEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def attributed() -> Iterator[None]:
    with _attributed():
        yield


@pytest.fixture
def etl() -> Iterator[str]:
    with login_role("etl") as role:
        yield role


@pytest.fixture
def app() -> Iterator[Session]:
    with login_role("app") as role:
        session = Session(role)
        yield session
        session.close()


def _contexts(events: list[AuthorEvent]) -> list[Context]:
    return list(Context.objects.filter(id__in={event.pgh_context_id for event in events}))


def test_psql_write_records_role_application_and_address(attributed: None, etl: str) -> None:
    author = Author.objects.create(name="before")
    _psql_as(etl, f"UPDATE testapp_author SET name = 'from psql' WHERE id = {author.pk}")
    event = AuthorEvent.objects.get(pgh_label="update")
    assert event.pgh_context is not None
    metadata = event.pgh_context.metadata
    assert metadata == {
        "db_role": etl,
        "application_name": "psql",
        "client_addr": metadata["client_addr"],
    }
    # The test server listens on TCP (localhost) or a socket: an address either way.
    assert metadata["client_addr"] in {"127.0.0.1", "::1", "local"}
    assert attribution.is_database_session(metadata)
    # Its id is of the version reserved for database sessions.
    assert event.pgh_context_id.version == 8


def test_one_context_per_transaction_and_application_name(attributed: None, etl: str) -> None:
    Author.objects.bulk_create(Author(name=f"a{n}") for n in range(50))
    first = max(AuthorEvent.objects.values_list("pgh_id", flat=True))
    _psql_as(
        etl,
        "BEGIN; UPDATE testapp_author SET email = 'x@example.com';"
        " UPDATE testapp_author SET email = 'y@example.com' WHERE name = 'a1';"
        " SET LOCAL application_name = 'nightly-import';"
        " UPDATE testapp_author SET email = 'z@example.com' WHERE name = 'a2'; COMMIT;"
        " UPDATE testapp_author SET email = 'w@example.com' WHERE name = 'a3';",
        appname="cron",
    )
    events = list(AuthorEvent.objects.filter(pgh_id__gt=first).order_by("pgh_id"))
    assert len(events) == 53
    ids = [event.pgh_context_id for event in events]
    # 50 rows and the next statement of the same transaction share one context ...
    assert len(set(ids[:51])) == 1
    # ... a new application name opens another, and so does the next transaction.
    assert len({ids[0], ids[51], ids[52]}) == 3
    names = {c.id: c.metadata["application_name"] for c in _contexts(events)}
    assert [names[ids[0]], names[ids[51]], names[ids[52]]] == ["cron", "nightly-import", "cron"]


def test_an_open_context_is_recorded_as_before(attributed: None) -> None:
    import pghistory_core

    with pghistory_core.context(user=7):
        author = Author.objects.create(name="in context")
    event = AuthorEvent.objects.get(pgh_obj_id=author.pk)
    assert event.pgh_context is not None
    assert event.pgh_context.metadata == {"user": 7}


def test_django_writes_without_a_context_record_none_as_in_3x(attributed: None) -> None:
    # Django's own connections say so once per session: their writes outside a context() get no
    # context, as with django-pghistory 3.x; the session is recorded for writes outside Django.
    from django.db import connection

    author = Author.objects.create(name="no context")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_author SET name = 'raw' WHERE id = %s", [author.pk])
        cursor.execute("SHOW pghistory_core.django_session")
        assert cursor.fetchone() == ("on",)
    events = AuthorEvent.objects.filter(pgh_obj_id=author.pk)
    assert [e.pgh_context_id for e in events] == [None, None]
    document = Document.objects.create(body="no context")
    assert DocumentEvent.objects.get(pgh_obj_id=document.pk).pgh_context is None


def test_denormalised_context_records_the_session(attributed: None, etl: str) -> None:
    document = Document.objects.create(body="v1")
    _psql_as(etl, f"UPDATE testapp_document SET body = 'v2' WHERE id = '{document.pk}'")
    event = DocumentEvent.objects.get(pgh_label="update")
    assert event.pgh_context["db_role"] == etl
    assert event.pgh_context["application_name"] == "psql"


def test_client_address_can_be_left_out(attributed: None, etl: str) -> None:
    _install(outside_writes=True, client_addr=False)
    author = Author.objects.create(name="a")
    _psql_as(etl, f"UPDATE testapp_author SET name = 'b' WHERE id = {author.pk}")
    event = AuthorEvent.objects.get(pgh_label="update")
    assert event.pgh_context is not None
    assert event.pgh_context.metadata == {"db_role": etl, "application_name": "psql"}


def test_attribution_can_be_switched_off(attributed: None, etl: str) -> None:
    _install(outside_writes=False)
    author = Author.objects.create(name="a")
    _psql_as(etl, f"UPDATE testapp_author SET name = 'b' WHERE id = {author.pk}")
    assert AuthorEvent.objects.get(pgh_label="update").pgh_context_id is None
    assert not Context.objects.exists()


def test_migrate_applies_a_changed_setting(attributed: None) -> None:
    assert sql.installed_marker("default") == "pghistory_core: outside_writes=on client_addr=on"
    with override_settings(
        PGHISTORY_ATTRIBUTE_OUTSIDE_WRITES=True, PGHISTORY_ATTRIBUTE_CLIENT_ADDR=False
    ):
        sql.post_migrate(sender=None, using="default")
    assert sql.installed_marker("default") == "pghistory_core: outside_writes=on client_addr=off"
    with override_settings(PGHISTORY_ATTRIBUTE_OUTSIDE_WRITES=False):
        sql.post_migrate(sender=None, using="default")
    assert sql.installed_marker("default") == "pghistory_core: outside_writes=off client_addr=off"


# An application role (DML on every table) must not make its writes, or a context, say that
# another role wrote them.


def _outside_context(etl: str) -> uuid.UUID:
    author = Author.objects.create(name="etl's")
    _psql_as(etl, f"UPDATE testapp_author SET name = 'etl wrote' WHERE id = {author.pk}")
    context_id = AuthorEvent.objects.get(pgh_label="update").pgh_context_id
    assert context_id is not None
    return context_id


def test_app_role_cannot_join_a_session_context(attributed: None, etl: str, app: Session) -> None:
    etl_context = _outside_context(etl)
    before = AuthorEvent.objects.count()
    with pytest.raises(driver.Error, match="belongs to a database session"):
        app.run(
            f"SET LOCAL pghistory_core.context_id = '{etl_context}'",
            # Even with the upsert skipped by forging what the function remembers.
            f"SET LOCAL pghistory_core.context_written = '{etl_context}{{}}'",
            "INSERT INTO testapp_author (name, email) VALUES ('forged', '')",
        )
    assert AuthorEvent.objects.count() == before
    # Nor with a denormalised context, whose events keep the context id next to the metadata.
    with pytest.raises(driver.Error, match="belongs to a database session"):
        app.run(
            # Written without dashes, in capitals: the same id.
            f"SET LOCAL pghistory_core.context_id = '{etl_context.hex.upper()}'",
            f"INSERT INTO testapp_document (id, body) VALUES ('{uuid.uuid4()}', 'forged')",
        )
    assert not DocumentEvent.objects.exists()


@pytest.mark.parametrize("key", ["db_role", "application_name", "client_addr"])
def test_app_role_cannot_claim_a_session(
    attributed: None, etl: str, app: Session, key: str
) -> None:
    claimed = {"db_role": etl, "application_name": "psql", "client_addr": "10.0.0.1"}[key]
    with pytest.raises(driver.Error, match="claims a database session"):
        app.run(
            f"SET LOCAL pghistory_core.context_id = '{uuid.uuid4()}'",
            f"""SET LOCAL pghistory_core.context_metadata = '{{"{key}": "{claimed}"}}'""",
            "INSERT INTO testapp_author (name, email) VALUES ('forged', '')",
        )
    # Written into the table directly, or added to a context later, alike.
    with pytest.raises(driver.Error, match="claims a database session"):
        app.run(
            "INSERT INTO pghistory_core_context (id, metadata, created_at, updated_at) "
            f"""VALUES ('{uuid.uuid4()}', '{{"{key}": "{claimed}"}}', now(), now())"""
        )
    context = Context.objects.create(metadata={"user": 1})
    with pytest.raises(driver.Error, match="claims a database session"):
        app.run(
            "UPDATE pghistory_core_context SET metadata = metadata || "
            f"""'{{"{key}": "{claimed}"}}' WHERE id = '{context.pk}'"""
        )
    # A denormalised context is checked when the event is written.
    with pytest.raises(driver.Error, match="claims a database session"):
        app.run(
            f"SET LOCAL pghistory_core.context_id = '{uuid.uuid4()}'",
            f"""SET LOCAL pghistory_core.context_metadata = '{{"{key}": "{claimed}"}}'""",
            f"INSERT INTO testapp_document (id, body) VALUES ('{uuid.uuid4()}', 'forged')",
        )
    assert not Context.objects.filter(metadata__has_key=key).exists()
    assert not DocumentEvent.objects.filter(pgh_context__has_key=key).exists()


def test_a_context_may_state_its_own_session(attributed: None, app: Session) -> None:
    # True values are no claim: a service may record its own role next to its user.
    app.run(
        f"SET LOCAL pghistory_core.context_id = '{uuid.uuid4()}'",
        f"""SET LOCAL pghistory_core.context_metadata = '{{"user": 3, "db_role": "{app.role}"}}'""",
        "INSERT INTO testapp_author (name, email) VALUES ('own', '')",
    )
    event = AuthorEvent.objects.get(name="own")
    assert event.pgh_context is not None
    assert event.pgh_context.metadata == {"user": 3, "db_role": app.role}


def test_app_role_cannot_precreate_a_session_context(
    attributed: None, etl: str, app: Session
) -> None:
    # Whatever id a session's writes will get, a row already there must say the same.
    with pytest.raises(driver.Error, match="exists with other metadata"):
        app.run(
            # The id this very transaction's writes get, computed as the function does.
            "SELECT set_config('pgh.test_meta', jsonb_build_object('db_role', session_user::text,"
            " 'application_name', current_setting('application_name'), 'client_addr',"
            " COALESCE(host(inet_client_addr()), 'local'))::text, true)",
            "SELECT set_config('pgh.test_hash', encode(sha256(convert_to(pg_current_xact_id()::text"
            " || current_setting('pgh.test_meta'), 'UTF8')), 'hex'), true)",
            "INSERT INTO pghistory_core_context (id, metadata, created_at, updated_at) VALUES ("
            "concat(substr(current_setting('pgh.test_hash'), 1, 12), '8',"
            " substr(current_setting('pgh.test_hash'), 14, 3), '8',"
            " substr(current_setting('pgh.test_hash'), 18, 15))::uuid, '{\"user\": 1}', now(), now())",
            "INSERT INTO testapp_author (name, email) VALUES ('precreated', '')",
        )
    assert not AuthorEvent.objects.filter(name="precreated").exists()
