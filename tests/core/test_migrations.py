"""Generated event models and triggers are fully described by migrations."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_makemigrations_check_is_clean_after_migrate():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db
def test_triggers_are_installed(capsys):
    call_command("pgtrigger", "ls")
    listing = capsys.readouterr().out
    assert "testapp.Book:update_update" in listing
    assert "OUTDATED" not in listing and "UNINSTALLED" not in listing


_HASHES = """
import django, json
django.setup()
from tests.testapp.models import Book
print(json.dumps(sorted(t.compile(Book).sql.hash for t in Book._meta.triggers)))
"""


def test_trigger_sql_is_deterministic_across_processes():
    # Another interpreter with another hash seed must compile identical trigger SQL, or every
    # deployment would see migration churn.
    import json
    import os
    import subprocess
    import sys

    from tests.testapp.models import Book

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONHASHSEED": "12345"}
    env.setdefault("DATABASE_URL", "postgresql://localhost/unused")
    run = subprocess.run(
        [sys.executable, "-c", _HASHES], env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    here = sorted(t.compile(Book).sql.hash for t in Book._meta.triggers)
    assert json.loads(run.stdout) == here
