"""Retention: batched pruning by age and by count per object."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from pghistory_core.pruning import AppendOnlyError, prune_keep_last, prune_older_than
from tests.testapp.models import Author, AuthorEvent, Note, NoteEvent

pytestmark = pytest.mark.django_db


def _age(model, days):
    model.objects.update(pgh_created_at=timezone.now() - datetime.timedelta(days=days))


def test_prune_older_than_in_batches():
    Author.objects.bulk_create([Author(name=f"old{i}") for i in range(7)])
    _age(AuthorEvent, 40)
    Author.objects.create(name="new")
    progress = []
    deleted = prune_older_than(
        AuthorEvent,
        timezone.now() - datetime.timedelta(days=30),
        batch_size=3,
        progress=progress.append,
    )
    assert deleted == 7
    assert progress == [3, 6, 7]
    assert list(AuthorEvent.objects.values_list("name", flat=True)) == ["new"]


def test_prune_keep_last_per_object():
    authors = Author.objects.bulk_create([Author(name=f"a{i}") for i in range(5)])
    for round_ in range(4):
        Author.objects.update(email=f"{round_}@example.com")
    deleted = prune_keep_last(AuthorEvent, 2, batch_size=2)
    assert deleted == 5 * 3
    for author in authors:
        kept = AuthorEvent.objects.filter(pgh_obj=author).order_by("pgh_id")
        assert [e.email for e in kept] == ["2@example.com", "3@example.com"]


def test_append_only_needs_the_bypass():
    Note.objects.create(text="n")
    _past = timezone.now() + datetime.timedelta(days=1)
    with pytest.raises(AppendOnlyError, match="append-only"):
        prune_older_than(NoteEvent, _past)
    assert prune_older_than(NoteEvent, _past, allow_append_only=True) == 1


def test_command():
    Author.objects.create(name="x")
    Note.objects.create(text="n")
    out, err = io.StringIO(), io.StringIO()
    call_command("pghistory_prune", "--days", "0", stdout=out, stderr=err)
    assert "testapp.AuthorEvent: 1 events deleted" in out.getvalue()
    assert "append-only" in err.getvalue()
    assert NoteEvent.objects.count() == 1
    call_command(
        "pghistory_prune",
        "--keep-last",
        "1",
        "testapp.NoteEvent",
        "--bypass-append-only",
        stdout=out,
    )


def test_command_rejects_unknown_models():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Not event models"):
        call_command("pghistory_prune", "--days", "1", "testapp.Author")
