"""An UPDATE that changes a primary key is linked to the old key (``KeyChange``)."""

import pytest
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat

from pghistory_core.models import Events, KeyChange
from tests.testapp.models import Code, Counter

pytestmark = pytest.mark.django_db


def changes():
    return sorted(
        KeyChange.objects.values_list("event_model", "old_obj_id", "new_obj_id", "pgh_id"),
        key=lambda row: row[3],
    )


def first_event(model, pk):
    return Events.objects.tracks(model(pk=pk)).order_by("pgh_id").first()


def test_statement_level_update_of_a_natural_key():
    Code.objects.create(code="a", value=1)
    Code.objects.filter(pk="a").update(value=2)
    assert changes() == []
    Code.objects.filter(pk="a").update(code="b", value=3)
    new = first_event(Code, "b")
    assert new.pgh_label == "update"
    assert new.pgh_data == {"code": "b", "value": 3}
    assert changes() == [("testapp.CodeEvent", "a", "b", new.pgh_id)]


def test_several_rows_renamed_by_one_statement():
    Code.objects.bulk_create([Code(code="x1"), Code(code="x2"), Code(code="y")])
    Code.objects.filter(code__startswith="x").update(code=Concat(F("code"), Value("-new")))
    assert changes() == [
        ("testapp.CodeEvent", old, f"{old}-new", first_event(Code, f"{old}-new").pgh_id)
        for old in sorted(["x1", "x2"], key=lambda old: first_event(Code, f"{old}-new").pgh_id)
    ]


def test_row_level_triggers_link_too():
    counter = Counter.objects.create(value=1)
    Counter.objects.filter(pk=counter.pk).update(value=2)
    assert changes() == []
    Counter.objects.filter(pk=counter.pk).update(id=counter.pk + 1000)
    new = first_event(Counter, counter.pk + 1000)
    assert changes() == [
        ("testapp.CounterEvent", str(counter.pk), str(counter.pk + 1000), new.pgh_id)
    ]


def test_raw_sql_and_rollbacks():
    Code.objects.create(code="raw", value=1)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_code SET code = 'raw2' WHERE code = 'raw'")
    assert [row[1:3] for row in changes()] == [("raw", "raw2")]
    with pytest.raises(RuntimeError), transaction.atomic():
        Code.objects.filter(pk="raw2").update(code="raw3")
        raise RuntimeError
    assert [row[1:3] for row in changes()] == [("raw", "raw2")]
