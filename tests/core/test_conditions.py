"""Conditions decide which rows produce events, at statement and row level."""

import pytest
from django.db import models
from django.test.utils import isolate_apps

import pghistory_core
from tests.testapp.models import Ticket, TicketEvent

pytestmark = pytest.mark.django_db


def labels():
    return list(
        TicketEvent.objects.order_by("pgh_id").values_list("pgh_label", "status", "assignee")
    )


def test_q_condition_on_old_and_new():
    ticket = Ticket.objects.create()
    Ticket.objects.filter(pk=ticket.pk).update(status="pending")
    Ticket.objects.filter(pk=ticket.pk).update(status="open")
    assert labels() == []
    Ticket.objects.filter(pk=ticket.pk).update(status="closed")
    assert labels() == [("closed", "closed", "")]


def test_combined_conditions_and_old_row():
    ticket = Ticket.objects.create(assignee="ann")
    Ticket.objects.filter(pk=ticket.pk).update(assignee="bob")
    Ticket.objects.filter(pk=ticket.pk).update(assignee="cid", status="x")
    # row=Old: the event keeps the values before the change.
    assert labels() == [("reassigned", "open", "ann")]


def test_insert_condition_on_new_row():
    Ticket.objects.bulk_create([Ticket(priority=p) for p in (1, 5, 9)])
    assert TicketEvent.objects.filter(pgh_label="big_insert").count() == 2


def test_obj_field_related_name():
    ticket = Ticket.objects.create(priority=7)
    assert ticket.ticket_events.get().pgh_label == "big_insert"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (
            pghistory_core.AnyChange("a", "b"),
            '(OLD."a" IS DISTINCT FROM NEW."a" OR OLD."b" IS DISTINCT FROM NEW."b")',
        ),
        (
            pghistory_core.AllChange("a", "b"),
            '(OLD."a" IS DISTINCT FROM NEW."a" AND OLD."b" IS DISTINCT FROM NEW."b")',
        ),
        (pghistory_core.AnyDontChange("a"), '(OLD."a" IS NOT DISTINCT FROM NEW."a")'),
        (
            pghistory_core.AllDontChange("a", "b"),
            '(OLD."a" IS NOT DISTINCT FROM NEW."a" AND OLD."b" IS NOT DISTINCT FROM NEW."b")',
        ),
        (~pghistory_core.AnyChange("a"), 'NOT ((OLD."a" IS DISTINCT FROM NEW."a"))'),
        (pghistory_core.Condition('NEW."a" > 1'), 'NEW."a" > 1'),
    ],
)
@isolate_apps("tests.testapp")
def test_condition_sql(condition, expected):
    class Pair(models.Model):
        a = models.IntegerField()
        b = models.IntegerField()

        class Meta:
            app_label = "testapp"

    assert condition.resolve(Pair) == expected


def test_statement_rewrites_old_and_new():
    from pghistory_core.conditions import for_transition_tables

    assert (
        for_transition_tables('OLD."a" <> NEW."a" AND "OLDISH" = 1', "o", "n")
        == 'o."a" <> n."a" AND "OLDISH" = 1'
    )


def test_proxy_field_reads_through_the_context():
    Ticket.objects.create(priority=8)
    with pghistory_core.context(user=42):
        Ticket.objects.create(priority=9)
    assert TicketEvent.objects.filter(user=42).count() == 1
    assert [e.user for e in TicketEvent.objects.order_by("pgh_id")] == [None, 42]
