"""``registry``: which event models the aggregate, the admin and the commands see."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from pghistory_core import registry
from pghistory_core.models import Event, MiddlewareEvents
from tests.testapp.models import Author, AuthorEvent

pytestmark = pytest.mark.django_db


def test_event_models_are_the_installed_concrete_ones_in_app_registry_order():
    found = registry.event_models()
    installed = [m for m in apps.get_models() if m in found]
    assert found == installed
    assert AuthorEvent in found
    # Neither the aggregate, its proxies, nor the abstract base are event models.
    assert MiddlewareEvents not in found
    assert Event not in found
    assert all(not m._meta.proxy and m._meta.managed for m in found)


def test_a_migration_state_model_is_not_registered():
    state = MigrationExecutor(connection).loader.project_state()
    historical = state.apps.get_model("testapp", "AuthorEvent")
    registry.register(historical)
    assert historical not in registry.event_models()
    assert AuthorEvent in registry.event_models()


def test_resolve_event_model_by_class_or_label():
    assert registry.resolve_event_model(AuthorEvent) is AuthorEvent
    assert registry.resolve_event_model("testapp.AuthorEvent") is AuthorEvent
    with pytest.raises(ValueError, match="is not an installed event model"):
        registry.resolve_event_model(Author)
    with pytest.raises(ValueError, match="is not an installed event model"):
        registry.resolve_event_model("pghistory_core.Events")


def test_filter_event_models_ignores_unknown_labels_and_case():
    assert registry.filter_event_models(
        ["TESTAPP.authorevent", "nope.Nothing", "testapp.Author"]
    ) == [AuthorEvent]
