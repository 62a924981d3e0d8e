"""The demo's entry point prepares a working admin on a fresh database (the README's first command)."""

import os
import subprocess
import sys
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
    check = subprocess.run(
        [sys.executable, "-m", "django", "makemigrations", "--check", "--dry-run"],
        env={**env, "DJANGO_SETTINGS_MODULE": "example_project.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
