"""The context reaches triggers on every database alias that is written to."""

import pytest

import pghistory_core
from pghistory_core.models import Context
from tests.testapp.models import Author, AuthorEvent

pytestmark = pytest.mark.django_db(databases=["default", "other"])


def test_context_on_two_aliases():
    with pghistory_core.context(user=5):
        Author.objects.using("default").create(name="here")
        Author.objects.using("other").create(name="there")
        Author.objects.using("other").update(email="x@example.com")
    for alias in ("default", "other"):
        events = AuthorEvent.objects.using(alias).all()
        assert events.exists()
        assert all(e.pgh_context_id is not None for e in events)
        assert Context.objects.using(alias).get().metadata == {"user": 5}
    assert AuthorEvent.objects.using("other").filter(pgh_label="update").count() == 1
    assert not AuthorEvent.objects.using("default").filter(pgh_label="update").exists()
