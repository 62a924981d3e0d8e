"""Browser tests of the admin: the demo shop on a seeded scratch database, served in a thread.

Once per session: a scratch database on the ``devdb`` server (embedded, or ``DATABASE_URL``'s),
migrated and seeded with a bounded shop history; the demo's WSGI app served on a free port by
Django's threaded live server; one headless Chromium. Every request thread opens its own
connection, and the tests write through the ORM in autocommit, so both sides see each other's
changes at once. Tests get fresh browser contexts, logged in from a cached session per user.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from e2e import browser as chromium
from e2e import scratch_database
from e2e.contexts import ADMIN, STAFF_PASSWORD, TIMEOUT_MS, Contexts
from e2e.pages import login

# The screenshot "tests" are a tool, not checks: collected only when asked for.
collect_ignore = [] if os.environ.get("PGHISTORY_SCREENSHOTS") == "1" else ["test_screenshots.py"]

ARTIFACTS = Path(__file__).parent / "artifacts"
# Enough for every scenario (8 pages of the audit log), small enough to seed in seconds.
SEED_EVENTS = 400

_base_url: str = ""
_scratch_name: str = ""


def pytest_configure(config: pytest.Config) -> None:
    """Point the demo's settings at a scratch database, then start Django (before collection)."""
    global _base_url, _scratch_name
    if config.pluginmanager.has_plugin("django"):
        # pytest-django would already have set Django up with the root config's tests.settings.
        raise pytest.UsageError(
            "e2e/ has its own pytest config: python dev.py e2e, "
            "or pytest -c e2e/pytest.ini --rootdir . [ARGS]"
        )
    # The pages of this run's failures only.
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    os.environ["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
    # Production-like pages (403 and 404 without debug output); the live server serves static.
    os.environ["DJANGO_DEBUG"] = "0"
    # Playwright's sync API keeps an asyncio loop in the main thread, so Django would refuse the
    # tests' ORM calls; they are plain blocking calls, made while no browser code runs.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    import devdb

    _base_url = devdb.get_database_url()
    if "DATABASE_URL" not in os.environ:
        scratch_database.drop_stale(_base_url)
    _scratch_name = scratch_database.name_for(os.getpid())
    os.environ["DATABASE_URL"] = scratch_database.url_for(_base_url, _scratch_name)

    import django

    django.setup()
    expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Screenshots first: they picture the seeded demo before the scenarios write to it."""
    items.sort(key=lambda item: item.path.name != "test_screenshots.py")


@pytest.fixture(scope="session", autouse=True)
def shop() -> Iterator[None]:
    """The demo shop: migrated, the ``admin`` superuser, staff users and a seeded history."""
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connections

    scratch_database.create(_base_url, _scratch_name)
    try:
        call_command("migrate", interactive=False, verbosity=0)
        User.objects.create_superuser(ADMIN[0], "admin@shop.example.com", ADMIN[1])
        call_command("seed", events=SEED_EVENTS, stdout=io.StringIO())
        yield
    finally:
        connections.close_all()
        scratch_database.drop(_base_url, _scratch_name)


@pytest.fixture(scope="session")
def server_url(shop: None) -> Iterator[str]:
    """The demo's admin served by Django's threaded live server (static files included)."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    thread = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    instance = chromium.launch(playwright)
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def session_state(
    browser: Browser, server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], str]:
    """The storage state (cookies) of a logged-in user, logging in once per user."""
    states: dict[str, str] = {}
    folder = tmp_path_factory.mktemp("sessions")

    def state(username: str) -> str:
        if username not in states:
            context = browser.new_context(base_url=server_url)
            page = context.new_page()
            password = ADMIN[1] if username == ADMIN[0] else STAFF_PASSWORD
            login(page, username, password)
            path = folder / f"{username}.json"
            context.storage_state(path=path)
            context.close()
            states[username] = str(path)
        return states[username]

    return state


_failed = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_failed] = True
    return report


@pytest.fixture
def contexts(
    browser: Browser, server_url: str, session_state: Callable[[str], str], request: Any
) -> Iterator[Contexts]:
    """Browser contexts of this test; on failure their pages are saved to ``e2e/artifacts/``."""
    made = Contexts(browser, server_url, session_state)
    yield made
    failed = request.node.stash.get(_failed, False)
    made.close(ARTIFACTS / request.node.name if failed else None)
    if not failed:
        assert not made.errors, made.errors


@pytest.fixture
def page(contexts: Contexts) -> Page:
    """A page logged in as the ``admin`` superuser."""
    return contexts.page()
