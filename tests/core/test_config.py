"""Each ``PGHISTORY_*`` setting no other test overrides, shown by its effect.

Settings read when an event model is built (base class, fields, append-only, hash chain) are
shown on abstract event models made under ``override_settings``; those read by triggers on the
trigger SQL; those read at run time (JSON encoder, commands) on recorded events.
"""

import json
from decimal import Decimal

import pgtrigger
import pytest
from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.test import override_settings

import pghistory_core
from pghistory_core import config
from pghistory_core.hash_chain import HASH_FIELD, SEAL_FIELD
from pghistory_core.models import Event, Events
from pghistory_core.triggers import triggers_for
from tests.testapp.management.commands.add_author import Command as AddAuthor
from tests.testapp.models import Author, AuthorEvent, Gadget


class StampedEvent(Event):
    """A project's own base class of event models."""

    class Meta:
        abstract = True

    def describe(self) -> str:
        return f"{self.pgh_label} #{self.pgh_id}"


class Money:
    def __init__(self, amount: str) -> None:
        self.amount = Decimal(amount)


class MoneyEncoder(DjangoJSONEncoder):
    def default(self, o):
        if isinstance(o, Money):
            return {"amount": str(o.amount)}
        return super().default(o)


def _event_model(**kwargs):
    return pghistory_core.create_event_model(
        Gadget, pghistory_core.InsertEvent(), fields=["price"], model_name="ConfigTmp", **kwargs
    )


@pytest.mark.parametrize("value", [StampedEvent, "tests.core.test_config.StampedEvent"])
def test_base_model(value):
    assert not issubclass(_event_model(), StampedEvent)
    with override_settings(PGHISTORY_BASE_MODEL=value):
        model = _event_model()
    assert issubclass(model, StampedEvent)
    assert config.base_model() is Event


def test_created_at_function():
    [trigger] = triggers_for(pghistory_core.InsertEvent(), AuthorEvent)
    assert "NOW()" in trigger.get_func(Author)
    with override_settings(PGHISTORY_CREATED_AT_FUNCTION="clock_timestamp()"):
        sql = trigger.get_func(Author)
    assert "clock_timestamp()" in sql
    assert "NOW()" not in sql


def test_level():
    model = _event_model()
    [statement] = triggers_for(pghistory_core.InsertEvent(), model)
    assert statement.level is pgtrigger.Statement
    with override_settings(PGHISTORY_LEVEL=pgtrigger.Row):
        [row] = triggers_for(pghistory_core.InsertEvent(), model)
    assert row.level is pgtrigger.Row
    # A model's own level wins over the setting.
    pinned = _event_model(level=pgtrigger.Statement)
    with override_settings(PGHISTORY_LEVEL=pgtrigger.Row):
        [trigger] = triggers_for(pghistory_core.InsertEvent(), pinned)
    assert trigger.level is pgtrigger.Statement


def test_append_only():
    assert _event_model().pgh_append_only is False
    with override_settings(PGHISTORY_APPEND_ONLY=True):
        assert _event_model().pgh_append_only is True
        # An explicit argument wins over the setting.
        assert _event_model(append_only=False).pgh_append_only is False


def test_hash_chain():
    def field_names(model):
        return {f.name for f in model._meta.get_fields()}

    plain = _event_model()
    assert plain.pgh_hash_chain is False
    assert HASH_FIELD not in field_names(plain)
    with override_settings(PGHISTORY_HASH_CHAIN=True):
        chained = _event_model()
    assert chained.pgh_hash_chain is True
    assert {HASH_FIELD, SEAL_FIELD} <= field_names(chained)


def test_obj_field():
    default = _event_model()._meta.get_field("pgh_obj")
    assert default.remote_field.related_name != "price_log"
    assert default.db_index is False  # the (pgh_obj, pgh_id) index serves it
    with override_settings(
        PGHISTORY_OBJ_FIELD=pghistory_core.ObjForeignKey(related_name="price_log", db_index=True)
    ):
        configured = _event_model()._meta.get_field("pgh_obj")
    assert configured.remote_field.related_name == "price_log"
    assert configured.db_index is True
    assert configured.db_constraint is False  # history outlives the row either way


def test_context_field_and_context_id_field():
    default = _event_model()
    assert default.pgh_context_kind == "fk"
    assert isinstance(default._meta.get_field("pgh_context"), models.ForeignKey)

    with override_settings(PGHISTORY_CONTEXT_FIELD=pghistory_core.ContextJSONField()):
        denormalised = _event_model()
        # With a JSON context, the context id is stored beside it by default (as in 3.x) ...
        assert isinstance(denormalised._meta.get_field("pgh_context_id"), models.UUIDField)
        with override_settings(PGHISTORY_CONTEXT_ID_FIELD=None):
            without_id = _event_model()
    assert denormalised.pgh_context_kind == "json"
    assert isinstance(denormalised._meta.get_field("pgh_context"), models.JSONField)
    # ... and left out when the setting is None.
    assert without_id.pgh_has_context_id is False
    assert "pgh_context_id" not in {f.name for f in without_id._meta.get_fields()}


@pytest.mark.django_db
def test_json_encoder():
    with (
        pytest.raises(TypeError, match="Money"),
        pghistory_core.context(price=Money("9.50")),
    ):
        Author.objects.create(name="Unencodable")
    with (
        override_settings(PGHISTORY_JSON_ENCODER="tests.core.test_config.MoneyEncoder"),
        pghistory_core.context(price=Money("9.50")),
    ):
        Author.objects.create(name="Encoded")
    event = AuthorEvent.objects.get(name="Encoded")
    assert event.pgh_context.metadata == {"price": {"amount": "9.50"}}
    assert config.json_encoder() is DjangoJSONEncoder


def _run_add_author(name: str) -> None:
    # The command-line path (run_from_argv), in this process.
    AddAuthor().run_from_argv(["manage.py", "add_author", name])


@pytest.mark.django_db(transaction=True)
def test_track_commands(settings):
    assert BaseCommand.run_from_argv.__module__ == "pghistory_core.commands"
    _run_add_author("Tracked")
    tracked = AuthorEvent.objects.get(name="Tracked")
    assert tracked.pgh_context.metadata == {"command": "add_author", "command_args": ["Tracked"]}

    settings.PGHISTORY_TRACK_COMMANDS = False
    _run_add_author("Untracked")
    assert AuthorEvent.objects.get(name="Untracked").pgh_context is None


@pytest.mark.django_db
def test_admin_queryset_and_list_display():
    first = Author.objects.create(name="First")
    Author.objects.create(name="Second")
    narrowed = Events.objects.tracks(first)
    with override_settings(
        PGHISTORY_ADMIN_QUERYSET=narrowed,
        PGHISTORY_ADMIN_LIST_DISPLAY=["pgh_created_at", "pgh_label"],
    ):
        assert config.admin_queryset() is narrowed
        assert [e.pgh_obj_id for e in config.admin_queryset()] == [str(first.pk)]
        assert config.admin_list_display() == ["pgh_created_at", "pgh_label"]
    assert config.admin_queryset().count() == 2


def test_settings_are_read_at_call_time():
    # Nothing is cached at import: every accessor answers the current settings.
    with override_settings(PGHISTORY_MIDDLEWARE_METHODS=["POST"], PGHISTORY_SECRET_NAMES=["*pin*"]):
        assert config.middleware_methods() == ("POST",)
        assert config.secret_names() == ("*pin*",)
    assert "GET" in config.middleware_methods()
    assert config.secret_names() == config.DEFAULT_SECRET_NAMES
    assert json.loads(json.dumps(list(config.secret_paths()))) == list(config.DEFAULT_SECRET_PATHS)
