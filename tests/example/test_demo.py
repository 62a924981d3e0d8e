"""The demo's entry point prepares a working admin on a fresh database (the README's first command)."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from django.db import connection

from tests.dburl import url_for


@pytest.fixture
def scratch_database(django_db_blocker):
    name = f"demo_{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield url_for(connection.settings_dict, name)
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_demo_prepares_and_seeds(scratch_database):
    env = {**os.environ, "DATABASE_URL": scratch_database}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    run = subprocess.run(
        [sys.executable, "-m", "example_project", "--no-serve", "--events", "300"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "admin" in run.stdout
    assert "Seeded" in run.stdout
    # migrate installed the triggers: nothing to install again, nothing said about it.
    assert "trigger" not in run.stdout + run.stderr
    # A price changed from psql by the role shop_etl, attributed to that session.
    assert _outside_writes(scratch_database) == [("shop_etl", "psql", ["price"])]
    # Second run: no reseed, same credentials.
    again = subprocess.run(
        [sys.executable, "-m", "example_project", "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert "Seeded" not in again.stdout
    assert "trigger" not in again.stdout + again.stderr
    # A trigger missing (an older checkout's database): only that one is installed.
    _drop_one_trigger(scratch_database)
    repaired = subprocess.run(
        [sys.executable, "-m", "example_project", "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert repaired.returncode == 0, repaired.stderr
    assert "Installed or updated 1 triggers" in repaired.stdout
    assert "pgtrigger: Installing" not in repaired.stdout + repaired.stderr
    check = subprocess.run(
        [sys.executable, "-m", "django", "makemigrations", "--check", "--dry-run"],
        env={**env, "DJANGO_SETTINGS_MODULE": "example_project.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def _outside_writes(url):
    """Role, application name and changed fields of the seeded writes made from psql."""
    conn = connection.Database.connect(url)
    try:
        cursor = conn.cursor()
        cursor.execute(
            "SELECT c.metadata ->> 'db_role', c.metadata ->> 'application_name', e.price,"
            " (SELECT p.price FROM shop_productevent AS p WHERE p.pgh_obj_id = e.pgh_obj_id"
            "  AND p.pgh_id < e.pgh_id ORDER BY p.pgh_id DESC LIMIT 1)"
            " FROM shop_productevent AS e JOIN pghistory_core_context AS c"
            " ON c.id = e.pgh_context_id WHERE c.metadata ->> 'application_name' = 'psql'"
        )
        return [
            (role, app, ["price"] if new != old else [])
            for role, app, new, old in cursor.fetchall()
        ]
    finally:
        conn.close()


def _drop_one_trigger(url):
    """Drop a trigger of the demo's database, as an older checkout might have left it."""
    conn = connection.Database.connect(url)  # psycopg or psycopg2, whichever the run uses
    try:
        conn.autocommit = True
        cursor = conn.cursor()
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'shop_product'::regclass"
            " AND tgname LIKE 'pgtrigger_%' LIMIT 1"
        )
        (name,) = cursor.fetchone()
        cursor.execute(f'DROP TRIGGER "{name}" ON shop_product')
    finally:
        conn.close()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(process, url, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the demo exited early: {process.communicate()[0]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 -- http://127.0.0.1
                return response.status
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the demo did not answer on {url} within {timeout} s")


def test_demo_server_stops_with_status_0_on_sigterm_and_sigint(scratch_database):
    """nox reports a session whose command exits non-zero as failed: stopping is not failing."""
    env = {**os.environ, "DATABASE_URL": scratch_database, "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    for signum in (signal.SIGTERM, signal.SIGINT):
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "example_project", str(port), "--events", "20"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert _wait_until_serving(process, f"http://127.0.0.1:{port}/admin/login/") == 200
            process.send_signal(signum)
            output, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, output
        assert f"Stopping the demo ({signum.name})" in output
        assert "Traceback" not in output
