"""append_only=True protects event tables; pruning uses an explicit bypass."""

import subprocess

import pytest
from django.db import InternalError, ProgrammingError, connection, transaction

import pghistory_core
from pghistory_core.models import Context
from tests.core.test_other_clients import _psql, _psql_env
from tests.testapp.models import Note, NoteEvent

pytestmark = pytest.mark.django_db


def test_events_cannot_be_updated_or_deleted():
    Note.objects.create(text="a")
    with pytest.raises((InternalError, ProgrammingError), match="Cannot"), transaction.atomic():
        NoteEvent.objects.update(text="forged")
    with pytest.raises((InternalError, ProgrammingError), match="Cannot"), transaction.atomic():
        NoteEvent.objects.all().delete()
    assert NoteEvent.objects.get().text == "a"


def test_explicit_bypass_allows_pruning_and_is_recorded():
    Note.objects.create(text="old")
    with pghistory_core.bypass_append_only(NoteEvent):
        deleted, _ = NoteEvent.objects.all().delete()
        Note.objects.create(text="new")
    assert deleted == 1
    event = NoteEvent.objects.get()
    assert Context.objects.get(pk=event.pgh_context_id).metadata == {
        "pgh_bypass_append_only": [
            "testapp.NoteEvent:append_only",
            "testapp.NoteEvent:append_only_truncate",
        ]
    }
    with pytest.raises((InternalError, ProgrammingError)), transaction.atomic():
        NoteEvent.objects.all().delete()


def test_bypass_of_a_model_that_is_not_append_only_is_refused():
    from tests.testapp.models import AuthorEvent

    with (
        pytest.raises(ValueError, match="append-only"),
        pghistory_core.bypass_append_only(AuthorEvent),
    ):
        pass


def test_truncate_is_refused_while_the_table_holds_events():
    Note.objects.create(text="a")
    with (
        pytest.raises((InternalError, ProgrammingError), match="Cannot truncate"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE testapp_noteevent")
    assert NoteEvent.objects.count() == 1
    with pghistory_core.bypass_append_only(NoteEvent), connection.cursor() as cursor:
        cursor.execute("TRUNCATE testapp_noteevent")
    assert NoteEvent.objects.count() == 0
    # An empty table loses nothing: Django's test flush truncates every table.
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE testapp_noteevent")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE testapp_noteevent SET text = 'forged'",
        "DELETE FROM testapp_noteevent",
        "TRUNCATE testapp_noteevent",
        "TRUNCATE testapp_note, testapp_noteevent CASCADE",
        "BEGIN; SET LOCAL pghistory_core.context_id = ''; DELETE FROM testapp_noteevent; COMMIT",
    ],
)
def test_other_clients_cannot_change_events(sql):
    Note.objects.create(text="kept")
    result = subprocess.run(
        [_psql(), "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=_psql_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Cannot" in result.stderr
    assert list(NoteEvent.objects.values_list("text", flat=True)) == ["kept"]
