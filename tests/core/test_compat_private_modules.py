"""3.x's private module paths that 3.x code imports, under the new name."""

import importlib

import pgtrigger
import pytest
from django.db.backends.postgresql.psycopg_any import is_psycopg3

import pghistory_core
from pghistory_core import utils
from pghistory_core.core import create_event_model
from pghistory_core.trigger import Event
from tests.testapp.models import Author, AuthorEvent, Measurement


def test_core_re_exports_the_public_objects():
    core = importlib.import_module("pghistory_core.core")
    for name in core.__all__:
        if hasattr(pghistory_core, name):
            assert getattr(core, name) is getattr(pghistory_core, name), name
    assert create_event_model is pghistory_core.create_event_model
    assert core.InsertEvent is pghistory_core.InsertEvent


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", ""), ("hello_world", "HelloWorld"), ("Hello", "Hello"), ("_a.b-c d", "ABCD")],
)
def test_core_pascalcase_as_in_3x(text, expected):
    core = importlib.import_module("pghistory_core.core")
    assert core._pascalcase(text) == expected


def test_an_abstract_event_model_keeps_3x_related_name_even_when_taken():
    # Author already has "events" (AuthorEvent): an abstract result adds no accessor, and 3.x
    # names it "events" all the same (a concrete track() gets "<model>_events" instead).
    for kwargs in ({}, {"model_name": "Name"}):
        model = create_event_model(Author, **kwargs)
        assert model._meta.abstract
        assert model._meta.get_field("pgh_obj").remote_field.related_name == "events"
    assert AuthorEvent._meta.get_field("pgh_obj").remote_field.related_name == "events"


def test_psycopg_maj_version_names_the_driver_django_uses():
    # Django prefers psycopg 3 when both are installed, as 3.x's utils does.
    assert utils.psycopg_maj_version == (3 if is_psycopg3 else 2)


def test_trigger_event_takes_3x_arguments_and_leaves_generated_columns_out():
    event_model = Measurement.pgh_event_model
    trigger = Event(event_model=event_model, label="measured", operation=pgtrigger.Update)
    assert trigger.name == "measured_update"
    func = trigger.get_func(Measurement)
    assert func.func == func  # 3.x code reads get_func(model).func
    insert = func.split("INSERT INTO", 1)[1].split(")", 1)[0]
    assert '"value"' in insert and '"doubled"' not in insert
    with pytest.raises(ValueError, match='Must provide "label"'):
        Event(event_model=event_model, operation=pgtrigger.Insert)
    assert isinstance(trigger, pgtrigger.Trigger)
