import os

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

import pghistory_core
from pghistory_core.registry import event_models
from tests.testapp.models import Author, Book

# Property-based tests: a bounded run everywhere (CI included), a long one in `nox -s nightly`.
# Each example talks to Postgres, so there is no per-example deadline.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}
hypothesis_settings.register_profile("default", max_examples=200, **_COMMON)
hypothesis_settings.register_profile("nightly", max_examples=2000, **_COMMON)
hypothesis_settings.register_profile("quick", max_examples=20, **_COMMON)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _empty_append_only_tables(request):
    """Transactional tests end with a flush (TRUNCATE), which append-only event tables refuse
    while they hold rows: empty them first, through the explicit bypass."""
    marker = request.node.get_closest_marker("django_db")
    if (
        not (marker and marker.kwargs.get("transaction"))
        and "transactional_db" not in request.fixturenames
    ):
        yield
        return
    # Requested here, so it is torn down (flushed) after this fixture's cleanup.
    request.getfixturevalue("transactional_db")
    yield
    append_only = [m for m in event_models() if getattr(m, "pgh_append_only", False)]
    databases = (marker.kwargs.get("databases") if marker else None) or ["default"]
    for alias in settings.DATABASES if databases == "__all__" else databases:
        with (
            pghistory_core.bypass_append_only(databases=[alias]),
            connections[alias].cursor() as cursor,
        ):
            tables = ", ".join(
                connections[alias].ops.quote_name(m._meta.db_table) for m in append_only
            )
            cursor.execute(f"TRUNCATE {tables}")


@pytest.fixture
def author(db):
    return Author.objects.create(name="Ursula", email="ursula@example.com")


@pytest.fixture
def book(author):
    return Book.objects.create(title="The Dispossessed", author=author, price="9.99")


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", password="pw")
