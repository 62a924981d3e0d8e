"""Management commands run from the command line record their name and arguments."""

import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.db import connection

import pghistory_core
from tests.dburl import url_for
from tests.testapp.models import AuthorEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_command_line_run_is_recorded(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    # Point the subprocess at the test database.
    env["DATABASE_URL"] = url_for(connection.settings_dict)
    run = subprocess.run(
        [sys.executable, "-m", "django", "add_author", "Le Guin", "--email", "ug@example.com"],
        env=env,
        capture_output=True,
        text=True,
        cwd=os.getcwd(),
    )
    assert run.returncode == 0, run.stderr
    event = AuthorEvent.objects.get(name="Le Guin")
    assert event.pgh_context.metadata == {
        "command": "add_author",
        "command_args": ["Le Guin", "--email", "ug@example.com"],
    }


def test_call_command_with_helper():
    with pghistory_core.command_context("add_author", "Tolkien"):
        call_command("add_author", "Tolkien")
    assert AuthorEvent.objects.get(name="Tolkien").pgh_context.metadata == {
        "command": "add_author",
        "command_args": ["Tolkien"],
    }


def test_ignored_commands_setting(settings):
    from pghistory_core import config

    settings.PGHISTORY_IGNORED_COMMANDS = ["add_author"]
    assert config.ignored_commands() == ("add_author",)


@pytest.mark.parametrize(
    ("args", "recorded"),
    [
        (["--password", "hunter2"], ["--password", "••••••"]),
        (["--password=hunter2"], ["--password=••••••"]),
        (["-p", "hunter2"], ["-p", "••••••"]),
        (["-phunter2"], ["-p••••••"]),
        # A flag that takes no value leaves the next argument alone.
        (["--no-password-prompt", "--email", "a@b.example"], None),
    ],
)
def test_secret_options_are_masked_before_they_are_stored(args, recorded):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env["DATABASE_URL"] = url_for(connection.settings_dict)
    run = subprocess.run(
        [sys.executable, "-m", "django", "add_author", "Le Guin", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=os.getcwd(),
    )
    assert run.returncode == 0, run.stderr
    metadata = AuthorEvent.objects.get(name="Le Guin").pgh_context.metadata
    assert metadata["command_args"] == ["Le Guin", *(recorded or args)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pghistory_core_context WHERE metadata::text LIKE '%hunter2%'"
        )
        assert cursor.fetchone()[0] == 0


def test_call_command_helper_masks_secret_options():
    with pghistory_core.command_context("add_author", "Tolkien", "--password", "hunter2"):
        call_command("add_author", "Tolkien", password="hunter2")
    metadata = AuthorEvent.objects.get(name="Tolkien").pgh_context.metadata
    assert metadata["command_args"] == ["Tolkien", "--password", "••••••"]
