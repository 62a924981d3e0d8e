"""Database objects shared by all event tables, installed by migration and before migrate."""

from __future__ import annotations

from typing import Any

from django.db import connections

from pghistory_core import sequence
from pghistory_core.config import CONTEXT_ID_SETTING, CONTEXT_METADATA_SETTING, EVENT_ID_SEQUENCE

__all__ = [
    "DROP_SQL",
    "EVENT_ID_SEQUENCE",
    "FUNCTIONS_SQL",
    "SEQUENCE_SQL",
    "install",
    "install_functions",
    "post_migrate",
    "pre_migrate",
]

_WRITTEN_SETTING = "pghistory_core.context_written"

SEQUENCE_SQL = f"CREATE SEQUENCE IF NOT EXISTS {EVENT_ID_SEQUENCE};"

# Resolves the open context once per statement: reads transaction-local settings with
# current_setting(name, true) (no exception block) and upserts the Context row only when its
# metadata changed since the last upsert of this transaction. The upsert adds keys and keeps the
# recorded value of every existing one, so whoever sets these settings cannot rewrite whom the
# events already written in a context are attributed to.
FUNCTIONS_SQL = f"""
CREATE OR REPLACE FUNCTION pghistory_core_context_id() RETURNS uuid AS $$
DECLARE
    _id uuid := NULLIF(current_setting('{CONTEXT_ID_SETTING}', true), '')::uuid;
    _metadata text;
BEGIN
    IF _id IS NULL THEN
        RETURN NULL;
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
    SELECT CASE
        WHEN NULLIF(current_setting('{CONTEXT_ID_SETTING}', true), '') IS NULL THEN NULL
        ELSE COALESCE(NULLIF(current_setting('{CONTEXT_METADATA_SETTING}', true), ''), '{{}}')::jsonb
    END
$$ LANGUAGE sql STABLE;
"""

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
        cursor.execute(SEQUENCE_SQL + FUNCTIONS_SQL)


def post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """``post_migrate`` receiver for ``PGHISTORY_INSTALL_CONTEXT_FUNC_ON_MIGRATE`` (3.x)."""
    from pghistory_core import config

    if config.install_context_func_on_migrate():
        install_functions(using)
