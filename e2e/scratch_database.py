"""A throwaway database for one e2e session, on the server ``devdb`` points at.

The demo's settings read ``DATABASE_URL`` (see ``devdb.py``); pointing it at a fresh database
before Django starts keeps the browser tests away from the demo's own data.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

__all__ = ["create", "drop", "drop_stale", "name_for", "url_for"]

PREFIX = "pghistory_e2e_"
_NAME = re.compile(rf"^{PREFIX}(\d+)$")


def name_for(pid: int) -> str:
    """The scratch database of process ``pid``: parallel sessions never share one."""
    return f"{PREFIX}{pid}"


def url_for(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name`` (also when given as ``?dbname=``)."""
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "dbname"]
    return urlunsplit(parts._replace(path=f"/{name}", query=urlencode(query)))


def create(url: str, name: str) -> None:
    """Create database ``name`` (dropping a leftover of the same name first)."""
    _execute(url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _execute(url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop(url: str, name: str) -> None:
    _execute(url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def drop_stale(url: str) -> list[str]:
    """Drop the scratch databases of sessions that died without cleaning up (local server only)."""
    with psycopg.connect(url, autocommit=True) as conn:
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
    stale = [
        name
        for name in names
        if (match := _NAME.match(name)) and not _process_is_running(int(match[1]))
    ]
    for name in stale:
        drop(url, name)
    return stale


def _process_is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _execute(url: str, statement: sql.Composed) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)
