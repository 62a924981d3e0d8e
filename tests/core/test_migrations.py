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


def test_trigger_sql_is_deterministic():
    from tests.testapp.models import Book

    triggers = Book._meta.triggers
    first = [str(t.compile(Book).install_sql) for t in triggers]
    second = [str(t.compile(Book).install_sql) for t in triggers]
    assert first == second
