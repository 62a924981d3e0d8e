"""Management commands run from the command line record their name and arguments."""

import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.db import connection

import pghistory_core
from tests.testapp.models import AuthorEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_command_line_run_is_recorded(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    # Point the subprocess at the test database.
    env["DATABASE_URL"] = _url(connection.settings_dict)
    subprocess.run(
        [sys.executable, "-m", "django", "add_author", "Le Guin", "--email", "ug@example.com"],
        env=env,
        check=True,
        capture_output=True,
        cwd=os.getcwd(),
    )
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


def _url(settings_dict):
    host = settings_dict["HOST"]
    user = settings_dict["USER"]
    name = settings_dict["NAME"]
    port = settings_dict["PORT"]
    if host.startswith("/"):
        return f"postgresql://{user}@/{name}?host={host}" + (f"&port={port}" if port else "")
    password = settings_dict["PASSWORD"]
    return f"postgresql://{user}:{password}@{host}:{port or 5432}/{name}"
