"""System checks name every app and middleware the history pages need (``manage.py check``)."""

import pytest
from django.conf import settings
from django.core import checks as django_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from django_htmx.middleware import HtmxMiddleware

from pghistory_admin import checks
from pghistory_core.middleware import HistoryMiddleware


class ProjectHtmxMiddleware(HtmxMiddleware):
    pass


class ProjectHistoryMiddleware(HistoryMiddleware):
    pass


def _without(setting, *names):
    return [name for name in getattr(settings, setting) if name not in names]


def _ours(messages):
    return [m for m in messages if m.id and m.id.startswith("pghistory_admin.")]


def test_complete_configuration_passes():
    assert _ours(django_checks.run_checks()) == []


@pytest.mark.parametrize(
    "app", ["django_tables2", "django_filters", "django_htmx", "django.contrib.admin"]
)
def test_missing_app_is_an_error_naming_it(app):
    with override_settings(INSTALLED_APPS=_without("INSTALLED_APPS", app)):
        messages = _ours(django_checks.run_checks())
    assert [(m.id, m.level) for m in messages] == [("pghistory_admin.E001", django_checks.ERROR)]
    assert f"'{app}'" in messages[0].msg
    assert messages[0].hint.startswith(f"Add '{app}' to INSTALLED_APPS.")


def test_missing_apps_are_reported_together():
    installed = _without("INSTALLED_APPS", "django_tables2", "django_htmx")
    with override_settings(INSTALLED_APPS=installed):
        messages = checks.check_installed_apps()
    assert ["'django_tables2'" in m.msg for m in messages] == [True, False]
    assert "'django_htmx'" in messages[1].msg


def test_missing_pgtrigger_is_reported_once():
    with override_settings(INSTALLED_APPS=_without("INSTALLED_APPS", "pgtrigger")):
        messages = django_checks.run_checks()
    about_pgtrigger = [m.id for m in messages if "pgtrigger" in m.msg and "INSTALLED_APPS" in m.msg]
    # pghistory_core's own check names it; ours does not repeat it.
    assert about_pgtrigger == ["pghistory_core.E001"]


def test_missing_pghistory_core_stops_startup_with_the_fix():
    with (
        pytest.raises(ImproperlyConfigured, match="'pghistory_core'"),
        override_settings(INSTALLED_APPS=_without("INSTALLED_APPS", "pghistory_core")),
    ):
        pass


def test_missing_htmx_middleware_is_an_error():
    middleware = _without("MIDDLEWARE", "django_htmx.middleware.HtmxMiddleware")
    with override_settings(MIDDLEWARE=middleware):
        messages = _ours(django_checks.run_checks())
    assert [m.id for m in messages] == ["pghistory_admin.E002"]
    assert "'django_htmx.middleware.HtmxMiddleware'" in messages[0].hint


def test_missing_history_middleware_is_a_warning():
    middleware = _without("MIDDLEWARE", "pghistory_core.middleware.HistoryMiddleware")
    with override_settings(MIDDLEWARE=middleware):
        messages = _ours(django_checks.run_checks())
    assert [(m.id, m.level) for m in messages] == [("pghistory_admin.W001", django_checks.WARNING)]
    assert "AuthenticationMiddleware" in messages[0].hint


def test_subclasses_of_the_middleware_count():
    middleware = [
        *_without(
            "MIDDLEWARE",
            "django_htmx.middleware.HtmxMiddleware",
            "pghistory_core.middleware.HistoryMiddleware",
        ),
        "tests.admin.test_checks.ProjectHtmxMiddleware",
        "tests.admin.test_checks.ProjectHistoryMiddleware",
    ]
    with override_settings(MIDDLEWARE=middleware):
        assert checks.check_middleware() == []


def test_manage_py_check_fails_with_the_hint():
    with (
        override_settings(INSTALLED_APPS=_without("INSTALLED_APPS", "django_tables2")),
        pytest.raises(SystemCheckError, match=r"HINT: Add 'django_tables2' to INSTALLED_APPS"),
    ):
        call_command("check")
