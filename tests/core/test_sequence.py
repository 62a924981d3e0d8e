"""The shared pgh_id sequence is moved past ids stored in event tables (pghistory_core.sequence)."""

import pytest
from django.db import connection

from pghistory_core import sequence, sql
from pghistory_core.config import EVENT_ID_SEQUENCE
from tests.testapp.models import BookEvent


@pytest.mark.django_db
def test_install_moves_the_sequence_past_the_largest_stored_event_id(book):
    book.title = "The Word for World Is Forest"
    book.save()
    largest = BookEvent.objects.order_by("-pgh_id").values_list("pgh_id", flat=True)[0]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT last_value FROM {EVENT_ID_SEQUENCE}")
        original = cursor.fetchone()[0]
        # As after django-pghistory 3.x filled a table with its own counter.
        cursor.execute("SELECT setval(%s, 1, false)", [EVENT_ID_SEQUENCE])
        try:
            found = sequence.state(cursor)
            assert found.behind
            assert found.next_value == 1
            assert found.largest_event_id >= largest

            sql.install("default")  # what runs before every migrate

            after = sequence.state(cursor)
            assert not after.behind
            assert after.next_value == found.largest_event_id + 1
            book.title = "Rocannon's World"
            book.save()
            newest = BookEvent.objects.order_by("-pgh_id").first()
            assert newest.title == "Rocannon's World"
            assert newest.pgh_id == found.largest_event_id + 1
            # Already past: nothing moves.
            assert not sequence.advance(cursor).behind
        finally:
            # setval is not rolled back with the test: leave the sequence where it was or later.
            cursor.execute(
                f"SELECT setval(%s, greatest(%s, (SELECT last_value FROM {EVENT_ID_SEQUENCE})))",
                [EVENT_ID_SEQUENCE, original],
            )
