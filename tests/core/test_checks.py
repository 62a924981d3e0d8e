"""System checks explain misconfiguration."""

import pytest
from django.test import override_settings

from pghistory_core import checks


def test_pgtrigger_missing():
    from django.apps import apps

    installed = [app.name for app in apps.get_app_configs() if app.name != "pgtrigger"]
    with override_settings(INSTALLED_APPS=installed):
        errors = checks.check_pgtrigger_installed()
    assert [e.id for e in errors] == ["pghistory_core.E001"]
    assert 'Add "pgtrigger" to settings.INSTALLED_APPS' in errors[0].msg


def test_pgtrigger_present():
    assert checks.check_pgtrigger_installed() == []


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_database_not_postgres():
    databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    with override_settings(DATABASES=databases):
        errors = checks.check_postgres(databases=["default"])
    assert [e.id for e in errors] == ["pghistory_core.E002"]
    assert "sqlite3" in errors[0].msg


def test_database_postgres():
    assert checks.check_postgres(databases=["default", "other"]) == []


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_server_side_binding_is_refused(settings):
    databases = {
        "default": {**settings.DATABASES["default"], "OPTIONS": {"server_side_binding": True}}
    }
    with override_settings(DATABASES=databases):
        errors = checks.check_postgres(databases=["default"])
    assert [e.id for e in errors] == ["pghistory_core.E003"]


def test_makemigrations_and_migrate_share_one_autodetector():
    from django.core import checks
    from django.core.management.commands import makemigrations, migrate

    from pghistory_core.autodetector import EventFieldRenameMixin

    assert makemigrations.Command.autodetector is migrate.Command.autodetector
    assert issubclass(migrate.Command.autodetector, EventFieldRenameMixin)
    assert not [e for e in checks.run_checks() if e.id == "commands.E001"]
