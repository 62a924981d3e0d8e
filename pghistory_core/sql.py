"""Database objects shared by all event tables, installed by migration and before migrate."""

from __future__ import annotations

from typing import Any

from django.db import connections

from pghistory_core import attribution, config, sequence
from pghistory_core.constants import (
    CONTEXT_ID_SETTING,
    CONTEXT_METADATA_SETTING,
    DJANGO_SESSION_SETTING,
    EVENT_ID_SEQUENCE,
)

__all__ = [
    "DROP_SQL",
    "EVENT_ID_SEQUENCE",
    "FUNCTIONS_SQL",
    "SEQUENCE_SQL",
    "configured_functions_sql",
    "functions_sql",
    "install",
    "install_functions",
    "installed_marker",
    "post_migrate",
    "pre_migrate",
]

_WRITTEN_SETTING = "pghistory_core.context_written"
_OUTSIDE_WRITTEN_SETTING = "pghistory_core.outside_context_written"

SEQUENCE_SQL = f"CREATE SEQUENCE IF NOT EXISTS {EVENT_ID_SEQUENCE};"


def _installed_marker(outside_writes: bool, client_addr: bool) -> str:
    """The comment on the installed function, naming the configuration baked into it."""
    on = {True: "on", False: "off"}
    return (
        f"pghistory_core: outside_writes={on[outside_writes]} "
        f"client_addr={on[outside_writes and client_addr]}"
    )


# Resolves the open context once per statement: reads transaction-local settings with
# current_setting(name, true) (no exception block) and upserts the Context row only when its
# metadata changed since the last upsert of this transaction. The upsert adds keys and keeps the
# recorded value of every existing one, so whoever sets these settings cannot rewrite whom the
# events already written in a context are attributed to. Without an open context, the session
# itself is recorded (see ``attribution``), unless ``PGHISTORY_ATTRIBUTE_OUTSIDE_WRITES`` is off.
def functions_sql(outside_writes: bool = True, client_addr: bool = True) -> str:
    """The context functions, with the attribution of writes made outside Django baked in.

    Sessions that never run Django (psql, other services, cron jobs) read no setting of ours, so
    the configuration is part of the functions' text (``installed_marker`` reads it back).
    """
    if outside_writes:
        metadata = attribution.metadata_sql(client_addr)
        # Django's own sessions (runtime.mark_django_session) without a context record none, as
        # in django-pghistory 3.x: only writes made outside Django are attributed to their session.
        django = (
            f"IF pg_catalog.current_setting('{DJANGO_SESSION_SETTING}', true) "
            "OPERATOR(pg_catalog.=) 'on' THEN RETURN NULL; END IF;"
        )
        # One context per transaction, role, application name and client address: its id is
        # derived from them (an UUID of version 8), so every statement of the transaction finds
        # the same row and no session setting, which any session can set, chooses it.
        outside_id = f"""
        {django}
        _metadata := ({metadata})::text;
        _hash := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
            pg_catalog.pg_current_xact_id()::text OPERATOR(pg_catalog.||) _metadata, 'UTF8')), 'hex');
        _id := pg_catalog.concat(pg_catalog.substr(_hash, 1, 12), '8', pg_catalog.substr(_hash, 14, 3),
            '8', pg_catalog.substr(_hash, 18, 15))::uuid;
        IF pg_catalog.current_setting('{_OUTSIDE_WRITTEN_SETTING}', true) IS DISTINCT FROM _id::text THEN
            INSERT INTO pghistory_core_context (id, metadata, created_at, updated_at)
            VALUES (_id, _metadata::jsonb, NOW(), NOW())
            ON CONFLICT (id) DO NOTHING;
            IF NOT FOUND THEN
                -- Written earlier in this transaction (the setting was rolled back with a
                -- savepoint), or by someone who guessed the id: it must say the same.
                PERFORM FROM pghistory_core_context AS _pgh_ctx
                WHERE _pgh_ctx.id OPERATOR(pg_catalog.=) _id
                AND _pgh_ctx.metadata OPERATOR(pg_catalog.=) _metadata::jsonb;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'pghistory: context % exists with other metadata', _id
                        USING HINT = 'Contexts of database sessions are written by pghistory_core_context_id() only.';
                END IF;
            END IF;
            PERFORM pg_catalog.set_config('{_OUTSIDE_WRITTEN_SETTING}', _id::text, true);
        END IF;
        RETURN _id;"""
        outside_json = f"{django}\n        RETURN {metadata};"
    else:
        outside_id = "RETURN NULL;"
        outside_json = "RETURN NULL;"
    claimed = attribution.claimed_sql("_meta")
    return f"""
CREATE OR REPLACE FUNCTION pghistory_core_context_id() RETURNS uuid AS $$
DECLARE
    _id uuid := NULLIF(current_setting('{CONTEXT_ID_SETTING}', true), '')::uuid;
    _metadata text;
    _hash text;
BEGIN
    IF _id IS NULL THEN
        {outside_id}
    END IF;
    IF pg_catalog.substr(_id::text, 15, 1) OPERATOR(pg_catalog.=) '8' THEN
        RAISE EXCEPTION 'pghistory: context % belongs to a database session', _id
            USING HINT = 'Contexts with version 8 ids record writes made outside Django; a session cannot join one.';
    END IF;
    _metadata := COALESCE(NULLIF(current_setting('{CONTEXT_METADATA_SETTING}', true), ''), '{{}}');
    IF current_setting('{_WRITTEN_SETTING}', true) IS DISTINCT FROM (_id::text || _metadata) THEN
        INSERT INTO pghistory_core_context (id, metadata, created_at, updated_at)
        VALUES (_id, _metadata::jsonb, NOW(), NOW())
        -- Keys already recorded keep their value: a context only gains keys (see ContextGuard).
        ON CONFLICT (id) DO UPDATE
        SET metadata = EXCLUDED.metadata || pghistory_core_context.metadata,
            updated_at = EXCLUDED.updated_at;
        PERFORM set_config('{_WRITTEN_SETTING}', _id::text || _metadata, true);
    END IF;
    RETURN _id;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION pghistory_core_context_json() RETURNS jsonb AS $$
DECLARE
    _id text := NULLIF(current_setting('{CONTEXT_ID_SETTING}', true), '');
    _meta jsonb;
BEGIN
    IF _id IS NULL THEN
        {outside_json}
    END IF;
    IF pg_catalog.substr(_id::uuid::text, 15, 1) OPERATOR(pg_catalog.=) '8' THEN
        RAISE EXCEPTION 'pghistory: context % belongs to a database session', _id
            USING HINT = 'Contexts with version 8 ids record writes made outside Django; a session cannot join one.';
    END IF;
    _meta := COALESCE(NULLIF(current_setting('{CONTEXT_METADATA_SETTING}', true), ''), '{{}}')::jsonb;
    IF {claimed} THEN
        RAISE EXCEPTION 'pghistory: the context claims a database session it was not written in'
            USING HINT = 'db_role, application_name and client_addr are recorded by the database.';
    END IF;
    RETURN _meta;
END;
$$ LANGUAGE plpgsql STABLE;

COMMENT ON FUNCTION pghistory_core_context_id() IS '{_installed_marker(outside_writes, client_addr)}';
"""


#: The functions as the defaults configure them (what migrations 0001, 0003 and 0005 install;
#: migration 0007 and ``migrate`` install them as the settings say).
FUNCTIONS_SQL = functions_sql()

DROP_SQL = """
DROP FUNCTION IF EXISTS pghistory_core_context_json();
DROP FUNCTION IF EXISTS pghistory_core_context_id();
"""


def install(using: str) -> None:
    """Create the shared sequence (needed before any event table is created).

    It is also moved past the ids already stored in event tables, before a migration points a
    table filled by django-pghistory 3.x (its own counter per table) at it.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(SEQUENCE_SQL)
        sequence.advance(cursor)


def pre_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """``pre_migrate`` receiver: event tables of any app may be migrated before ours."""
    install(using)


def install_functions(using: str) -> None:
    """(Re)create the sequence and the context functions the triggers call."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(SEQUENCE_SQL + configured_functions_sql())


def configured_functions_sql() -> str:
    """``functions_sql()`` as ``PGHISTORY_ATTRIBUTE_*`` configure it now."""
    return functions_sql(config.attribute_outside_writes(), config.attribute_client_addr())


def installed_marker(using: str) -> str | None:
    """The configuration the installed context functions were made with (``None``: none)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT pg_catalog.obj_description(f.oid, 'pg_proc') FROM (SELECT "
            "pg_catalog.to_regprocedure('pghistory_core_context_id()') AS oid) AS f "
            "WHERE f.oid IS NOT NULL"
        )
        row = cursor.fetchone()
    return None if row is None else (row[0] or "")


def post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """``post_migrate`` receiver: (re)create the context functions when
    ``PGHISTORY_INSTALL_CONTEXT_FUNC_ON_MIGRATE`` (3.x) asks, or when the ``PGHISTORY_ATTRIBUTE_*``
    settings changed since they were installed (so re-running ``migrate`` applies a change)."""
    if connections[using].vendor != "postgresql":
        return
    if config.install_context_func_on_migrate():
        install_functions(using)
        return
    installed = installed_marker(using)
    wanted = _installed_marker(config.attribute_outside_writes(), config.attribute_client_addr())
    if installed is not None and installed != wanted:
        install_functions(using)
