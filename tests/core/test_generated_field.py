"""A tracked model with a GeneratedField, as django-pghistory 3.x tracks it."""

import pytest
from django.db import models

from pghistory_core.models import Events
from pghistory_core.triggers import triggers_for
from tests.testapp.models import Measurement

MeasurementEvent = Measurement.pgh_event_model


def test_the_event_model_keeps_the_generated_field():
    copied = MeasurementEvent._meta.get_field("doubled")
    assert isinstance(copied, models.GeneratedField)
    assert copied.db_persist and copied.column == "doubled"
    assert isinstance(copied.output_field, models.IntegerField)


def test_the_triggers_leave_the_generated_column_out():
    for tracker in MeasurementEvent.pgh_trackers:
        for trigger in triggers_for(tracker, MeasurementEvent):
            insert = trigger.get_func(Measurement).split("INSERT INTO", 1)[1].split(")", 1)[0]
            assert '"value"' in insert
            assert '"doubled"' not in insert


@pytest.mark.django_db
def test_events_record_the_generated_value():
    item = Measurement.objects.create(value=3)
    item.value = 5
    item.save()
    events = MeasurementEvent.objects.filter(pgh_obj=item).order_by("pgh_id")
    assert [(e.pgh_label, e.value, e.doubled) for e in events] == [
        ("insert", 3, 6),
        ("update", 5, 10),
    ]
    [update] = Events.objects.tracks(item).filter(pgh_label="update")
    assert update.pgh_diff == {"value": [3, 5], "doubled": [6, 10]}
