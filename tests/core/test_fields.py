"""``pghistory_core.fields``: field configurations, their hierarchy, ``NextEventId``, ``ProxyField``."""

import pytest
from django.db import connection, models
from django.test import override_settings

import pghistory_core
from pghistory_core.config import EVENT_ID_SEQUENCE
from pghistory_core.fields import NextEventId
from tests.testapp.models import Author


def test_copies_lose_uniqueness_and_indexes():
    assert pghistory_core.Field().kwargs == {
        "primary_key": False,
        "unique": False,
        "db_index": False,
        "unique_for_date": None,
        "unique_for_month": None,
        "unique_for_year": None,
    }


def test_each_level_adds_its_defaults():
    related = pghistory_core.RelatedField().kwargs
    assert (related["related_name"], related["related_query_name"]) == ("+", "+")
    foreign_key = pghistory_core.ForeignKey().kwargs
    assert foreign_key["on_delete"] is models.DO_NOTHING
    assert foreign_key["db_constraint"] is False
    assert foreign_key["related_name"] == "+"
    obj = pghistory_core.ObjForeignKey().kwargs
    assert obj["db_constraint"] is False
    assert obj["null"] is False
    # DEFAULT leaves the argument out: Django's own default (a reverse accessor) applies.
    assert "related_name" not in obj


def test_arguments_win_and_default_removes_an_inherited_one():
    config = pghistory_core.ForeignKey(db_index=True, related_name=pghistory_core.DEFAULT)
    assert config.kwargs["db_index"] is True
    assert "related_name" not in config.kwargs
    assert config.kwargs["related_query_name"] == "+"


def test_settings_sit_between_the_levels():
    with override_settings(
        PGHISTORY_FIELD=pghistory_core.Field(db_index=True, null=True),
        PGHISTORY_FOREIGN_KEY_FIELD=pghistory_core.ForeignKey(null=False),
    ):
        assert pghistory_core.Field().kwargs["db_index"] is True
        # The foreign-key setting overrides the field setting for foreign keys only.
        assert pghistory_core.ForeignKey().kwargs["null"] is False
        assert pghistory_core.ForeignKey().kwargs["db_index"] is True
        assert pghistory_core.RelatedField().kwargs["null"] is True
        # A denormalised context is a field like any other: the field setting reaches it.
        assert pghistory_core.ContextJSONField().kwargs["db_index"] is True


def test_context_configurations():
    assert pghistory_core.ContextForeignKey().kwargs["null"] is True
    assert pghistory_core.ContextForeignKey().kwargs["db_index"] is True
    for config in (pghistory_core.ContextJSONField(), pghistory_core.ContextUUIDField()):
        assert config.kwargs == {**pghistory_core.Field().kwargs, "null": True}


def test_repr_shows_the_given_arguments():
    assert repr(pghistory_core.ForeignKey(db_index=True)) == "ForeignKey(db_index=True)"
    assert repr(pghistory_core.Field()) == "Field()"


@pytest.mark.django_db
def test_next_event_id_draws_from_the_shared_sequence(author):
    assert NextEventId().deconstruct() == ("pghistory_core.fields.NextEventId", (), {})
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [EVENT_ID_SEQUENCE])
        before = cursor.fetchone()[0]
    [drawn] = Author.objects.annotate(n=NextEventId()).values_list("n", flat=True)
    assert drawn == before + 1


def test_proxy_field_marks_the_field_with_its_path():
    field = models.IntegerField(null=True)
    assert pghistory_core.ProxyField("pgh_context__metadata__user", field) is field
    assert field.pgh_proxy == "pgh_context__metadata__user"
    with pytest.raises(ValueError, match="needs the path"):
        pghistory_core.ProxyField("", models.IntegerField())
    with pytest.raises(TypeError, match="needs a model field instance"):
        pghistory_core.ProxyField("a__b", models.IntegerField)
