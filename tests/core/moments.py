"""Give recorded events chosen times: in a test transaction every event shares one ``NOW()``."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from pghistory_core.config import EVENT_ID_SEQUENCE
from pghistory_core.registry import event_models


def last_event_id():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(pg_sequence_last_value(%s::regclass), 0)", [EVENT_ID_SEQUENCE]
        )
        return cursor.fetchone()[0]


@contextmanager
def at(when) -> Iterator[None]:
    """Events written inside the block get ``pgh_created_at = when``."""
    before = last_event_id()
    yield
    with connection.cursor() as cursor:
        for model in event_models():
            if getattr(model, "pgh_append_only", False):
                continue
            cursor.execute(
                f'UPDATE "{model._meta.db_table}" SET pgh_created_at = %s WHERE pgh_id > %s',
                [when, before],
            )
