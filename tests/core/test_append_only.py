"""append_only=True protects event tables; pruning uses an explicit bypass."""

import pytest
from django.db import InternalError, ProgrammingError, transaction

import pghistory_core
from pghistory_core.models import Context
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
        "pgh_bypass_append_only": ["testapp.NoteEvent:append_only"]
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
