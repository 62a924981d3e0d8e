import os

import pytest
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, settings


from tests.testapp.models import Author, Book

# Property-based tests: a bounded run everywhere (CI included), a long one in `nox -s nightly`.
# Each example talks to Postgres, so there is no per-example deadline.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}
settings.register_profile("default", max_examples=200, **_COMMON)
settings.register_profile("nightly", max_examples=2000, **_COMMON)
settings.register_profile("quick", max_examples=20, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def author(db):
    return Author.objects.create(name="Ursula", email="ursula@example.com")


@pytest.fixture
def book(author):
    return Book.objects.create(title="The Dispossessed", author=author, price="9.99")


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", password="pw")
