"""PostgreSQL for development: tests, the demo and the benchmarks share this module.

``DATABASE_URL`` wins when set. Otherwise an embedded PostgreSQL from the ``pgserver`` wheel is
started in a cache directory and stopped when the last process using it exits (``pgserver``
counts the processes sharing a data directory), so nothing has to be installed or running.

This module lives at the repository root and is not part of the distribution.
"""

from __future__ import annotations

import atexit
import importlib
import os
import tempfile
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

__all__ = ["databases", "embedded_data_dir", "get_database_url"]

_server: PostgresServer | None = None


def get_database_url() -> str:
    """Return ``$DATABASE_URL``, or the URL of an embedded server started on first use."""
    if url := os.environ.get("DATABASE_URL"):
        return url
    return _embedded_server().get_uri()


def databases(
    aliases: Sequence[str] = ("default",),
    url: str | None = None,
    test_prefix: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Build Django's ``DATABASES`` for ``url`` (default: ``get_database_url()``).

    Every alias is a separate database on the same server: ``default`` uses the URL's database,
    any other alias ``<dbname>_<alias>``, created when missing if the server is the embedded one.
    Test databases are named ``<test_prefix><NAME>`` (prefix ``test_`` by default).
    """
    url = url or get_database_url()
    base = _parse_url(url)
    embedded = _server is not None and url == _server.get_uri()
    prefix = "test_" if test_prefix is None else test_prefix
    result: dict[str, dict[str, Any]] = {}
    for alias in aliases:
        name = base["NAME"] if alias == "default" else f"{base['NAME']}_{alias}"
        if embedded and alias != "default":
            _create_database(url, name)
        result[alias] = {**base, "NAME": name, "TEST": {"NAME": f"{prefix}{name}"}}
    return result


def embedded_data_dir() -> Path:
    """The embedded server's data directory: ``$PGHISTORY_PGDATA``, or one in the user's cache."""
    if path := os.environ.get("PGHISTORY_PGDATA"):
        return Path(path).expanduser()
    return Path.home() / ".cache" / "pghistory-admin" / "pgdata"


def _embedded_server() -> PostgresServer:
    global _server
    if _server is None:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (root, CI); harmless.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            from pgserver.postgres_server import get_server

        pgdata = embedded_data_dir()
        # Created here: pgserver.get_server() races when two processes create it at once.
        pgdata.mkdir(parents=True, exist_ok=True)
        with _one_start_at_a_time():
            _server = get_server(pgdata, cleanup_mode="stop")
        atexit.register(_stop_server)
    return _server


@contextmanager
def _one_start_at_a_time() -> Iterator[None]:
    """Hold a lock shared by every process of this machine while a server is found or started.

    Run as root, pgserver first creates a system user for the server and changes the permissions
    of its own install and of the data directory. Two processes doing that at once for two data
    directories (``python dev.py tests`` runs two sessions at a time) can fail: seen as initdb's
    "could not change permissions of directory" on a machine where the user did not exist yet.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no system user to create
        yield
        return
    # One per user: a file another user created could not be opened for writing.
    path = Path(tempfile.gettempdir()) / f"pghistory-admin-server-start-{os.getuid()}.lock"
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _stop_server() -> None:
    # pgserver stops the postmaster only when this is the last process holding the data directory.
    global _server
    if _server is not None:
        _forget_dead_holders(_server)
        _server.cleanup()
        _server = None


def _forget_dead_holders(server: PostgresServer) -> None:
    """Drop processes that exited without running atexit (kill -9, mypy's ``os._exit``).

    pgserver keeps the holders' pids in a file; a dead one left there keeps the server up forever.
    """
    from pgserver.utils import process_is_running

    with server._lock:
        holders = server.global_process_id_list
        holders.put([pid for pid in holders.get() if process_is_running(pid)])


def _parse_url(url: str) -> dict[str, Any]:
    """Split a libpq URL into Django settings; ``?host=/dir`` selects a Unix socket directory."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"Not a PostgreSQL URL: {url!r}")
    query = dict(parse_qsl(parts.query))
    # libpq lets the query string override or complete the URL's parts.
    host = query.pop("host", "") or parts.hostname or ""
    port = query.pop("port", "") or parts.port or ""
    name = query.pop("dbname", "") or unquote(parts.path.lstrip("/")) or "postgres"
    user = query.pop("user", "") or unquote(parts.username or "")
    password = query.pop("password", "") or unquote(parts.password or "")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": user,
        "PASSWORD": password,
        "HOST": host,
        "PORT": str(port),
        # Whatever else the URL carries (sslmode, application_name, ...) goes to libpq.
        "OPTIONS": query,
    }


def _create_database(url: str, name: str) -> None:
    """Create database ``name`` unless it exists, serialised across processes."""
    # Whichever driver this environment has; both take a libpq URL.
    driver: Any
    try:
        driver = importlib.import_module("psycopg")
    except ImportError:
        driver = importlib.import_module("psycopg2")

    conn = driver.connect(url)
    try:
        conn.autocommit = True
        cur = conn.cursor()
        # Two processes starting at once would both see the database missing; the lock orders them.
        cur.execute("SELECT pg_advisory_lock(%s)", [zlib.crc32(name.encode())])
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cur.fetchone() is None:
            quoted = name.replace('"', '""')
            cur.execute(f'CREATE DATABASE "{quoted}"')
    finally:
        conn.close()
