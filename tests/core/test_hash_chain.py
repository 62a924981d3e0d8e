"""track(hash_chain=True): every event hashes its predecessor; verify() finds the first broken link."""

import datetime
import re
import threading
from decimal import Decimal

import pgtrigger
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

import pghistory_core
from pghistory_core.hash_chain import verify
from tests.testapp.models import LedgerEntry, LedgerEntryEvent, Note, NoteEvent

pytestmark = pytest.mark.django_db


def _entry(n: int = 0, **values) -> LedgerEntry:
    defaults = {
        "account": f"acc-{n}",
        "amount": Decimal("10.50") + n,
        "rate": 0.1 + n / 3,
        "booked_on": datetime.date(2026, 1, 1 + n % 28),
        "booked_at": datetime.datetime(2026, 1, 1, 12, n % 60, 30, 123456, tzinfo=datetime.UTC),
        "data": {"n": n, "tags": ["a", "é"], "nested": {"z": 1, "a": None}},
        "blob": bytes([n % 256, 0, 255]),
    }
    return LedgerEntry.objects.create(**{**defaults, **values})


def _raw(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_every_way_of_writing_is_chained_and_verifies():
    first = _entry(1)
    LedgerEntry.objects.bulk_create([LedgerEntry(account=f"b{i}", amount=i) for i in range(5)])
    LedgerEntry.objects.update(amount=Decimal("77.00"))  # one statement, six events
    first.delete()
    _raw("INSERT INTO testapp_ledgerentry (account, amount, data) VALUES ('raw', 2, '{}')")
    pghistory_core.create_event(LedgerEntry.objects.get(account="raw"), label="audit")

    events = list(LedgerEntryEvent.objects.order_by("pgh_id"))
    assert len(events) == 1 + 5 + 6 + 1 + 1 + 1
    assert all(e.pgh_hash and len(e.pgh_hash) == 64 for e in events)
    assert len({e.pgh_hash for e in events}) == len(events)
    report = verify(LedgerEntryEvent)
    assert report.ok, str(report)
    assert (report.events, report.unchained, report.broken_at) == (len(events), 0, None)
    assert report.head == (events[-1].pgh_id, events[-1].pgh_hash)


def test_a_changed_event_breaks_the_chain_at_that_event():
    for n in range(4):
        _entry(n)
    ids = list(LedgerEntryEvent.objects.order_by("pgh_id").values_list("pgh_id", flat=True))
    with pghistory_core.bypass_append_only(LedgerEntryEvent):
        LedgerEntryEvent.objects.filter(pgh_id=ids[2]).update(amount=Decimal("999.00"))
    report = verify(LedgerEntryEvent)
    assert not report.ok
    assert report.broken_at == ids[2]
    assert "BROKEN at pgh_id" in str(report)


@pytest.mark.parametrize(
    ("column", "sql_value"),
    [
        ("pgh_created_at", "pgh_created_at + interval '1 microsecond'"),
        ("pgh_label", "'forged'"),
        ("pgh_context_id", "gen_random_uuid()"),
        ("rate", "rate + 1e-12"),
        ("booked_at", "NULL"),
        ("data", '\'{"n": 2, "tags": ["a", "é"], "nested": {"z": 1}}\'::jsonb'),
        ("blob", "'\\x00'::bytea"),
    ],
)
def test_any_column_is_covered(column, sql_value):
    with pghistory_core.context(user=1):
        for n in range(3):
            _entry(n)
    target = LedgerEntryEvent.objects.order_by("pgh_id")[1].pgh_id
    with pghistory_core.bypass_append_only(LedgerEntryEvent):
        _raw(
            f"UPDATE testapp_ledgerentryevent SET {column} = {sql_value} WHERE pgh_id = %s",
            [target],
        )
    assert verify(LedgerEntryEvent).broken_at == target


def test_a_deleted_event_breaks_the_link_of_its_successor():
    for n in range(4):
        _entry(n)
    ids = list(LedgerEntryEvent.objects.order_by("pgh_id").values_list("pgh_id", flat=True))
    with pghistory_core.bypass_append_only(LedgerEntryEvent):
        LedgerEntryEvent.objects.filter(pgh_id=ids[1]).delete()
    assert verify(LedgerEntryEvent).broken_at == ids[2]


def test_an_event_slipped_in_without_the_trigger_is_found():
    _entry(1)
    with pgtrigger.ignore("testapp.LedgerEntryEvent:hash_chain"):
        _entry(2)  # recorded, but unhashed
    _entry(3)
    events = list(LedgerEntryEvent.objects.order_by("pgh_id"))
    assert [e.pgh_hash is None for e in events] == [False, True, False]
    assert verify(LedgerEntryEvent).broken_at == events[1].pgh_id


def test_pruning_the_oldest_events_moves_the_anchor():
    for n in range(5):
        _entry(n)
    ids = list(LedgerEntryEvent.objects.order_by("pgh_id").values_list("pgh_id", flat=True))
    with pghistory_core.bypass_append_only(LedgerEntryEvent):
        LedgerEntryEvent.objects.filter(pgh_id__lte=ids[1]).delete()
    report = verify(LedgerEntryEvent)
    assert report.ok, str(report)
    assert report.events == 3


def test_events_from_before_the_chain_are_counted_not_failed():
    with pgtrigger.ignore("testapp.LedgerEntryEvent:hash_chain"):
        _entry(1)
        _entry(2)
    _entry(3)
    _entry(4)
    report = verify(LedgerEntryEvent)
    assert report.ok, str(report)
    assert (report.events, report.unchained) == (4, 2)


def test_a_rewritten_chain_is_caught_by_the_recorded_head():
    for n in range(3):
        _entry(n)
    head = verify(LedgerEntryEvent).head
    assert head is not None
    assert verify(LedgerEntryEvent, expected_head=head).ok
    # An attacker who knows the algorithm changes an event and rehashes everything after it.
    first = LedgerEntryEvent.objects.order_by("pgh_id").first()
    with pghistory_core.bypass_append_only(LedgerEntryEvent), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE testapp_ledgerentryevent SET amount = 0, pgh_hash = NULL WHERE pgh_id = %s",
            [first.pgh_id],
        )
        cursor.execute("SELECT pgh_id FROM testapp_ledgerentryevent ORDER BY pgh_id")
        from pghistory_core.hash_chain import canonical_sql

        content = canonical_sql(LedgerEntryEvent, "t")
        for (pgh_id,) in cursor.fetchall():
            cursor.execute(
                f"""UPDATE testapp_ledgerentryevent AS t SET pgh_hash = encode(sha256(convert_to(
                    COALESCE((SELECT p.pgh_hash FROM testapp_ledgerentryevent p
                              WHERE p.pgh_id < t.pgh_id ORDER BY p.pgh_id DESC LIMIT 1), '')
                    || {content}, 'UTF8')), 'hex') WHERE t.pgh_id = %s""",
                [pgh_id],
            )
    assert verify(LedgerEntryEvent).ok  # the chain alone cannot tell
    report = verify(LedgerEntryEvent, expected_head=head)
    assert not report.ok
    assert report.expected_head_found is False


def test_hashes_do_not_depend_on_the_writers_session_settings():
    _entry(1)
    with transaction.atomic():
        _raw("SET LOCAL TimeZone = 'Pacific/Chatham'")
        _raw("SET LOCAL DateStyle = 'SQL, DMY'")
        _raw("SET LOCAL extra_float_digits = -5")
        _raw("SET LOCAL bytea_output = 'escape'")
        _raw("SET LOCAL IntervalStyle = 'sql_standard'")
        _entry(2)
        LedgerEntry.objects.update(rate=1 / 3)
    _entry(3)
    report = verify(LedgerEntryEvent)
    assert report.ok, str(report)
    assert report.events == 5


def test_rolled_back_events_leave_the_chain_intact():
    _entry(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        _entry(2)
        raise RuntimeError
    _entry(3)
    report = verify(LedgerEntryEvent)
    assert report.ok, str(report)
    assert report.events == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_build_one_chain_in_id_order():
    entries = [_entry(n) for n in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for step in range(10):
                with transaction.atomic(), pghistory_core.context(worker=worker):
                    _entry(100 + worker * 10 + step)
                    LedgerEntry.objects.filter(pk=entries[step % 4].pk).update(
                        amount=worker * 100 + step + 1
                    )
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = verify(LedgerEntryEvent)
    assert report.ok, str(report)
    assert report.events == 4 + 6 * 10 * 2


def test_verify_refuses_models_without_a_chain():
    with pytest.raises(ValueError, match="no hash chain"):
        verify(NoteEvent)


def test_verify_command_reports_heads_and_fails_on_a_broken_chain(capsys):
    for n in range(3):
        _entry(n)
    call_command("pghistory_verify")
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"testapp\.LedgerEntryEvent: 3 events, chain from pgh_id \d+ intact, "
        r"no event has a context to check, head \d+:[0-9a-f]{64}\n",
        out,
    ), out
    head = out.strip().rsplit("head ", 1)[1]
    call_command(
        "pghistory_verify",
        "testapp.LedgerEntryEvent",
        expect_head=[f"testapp.LedgerEntryEvent:{head}"],
    )

    with pytest.raises(CommandError, match=r"failed: testapp\.LedgerEntryEvent"):
        call_command("pghistory_verify", expect_head=["testapp.LedgerEntryEvent:1:00"])
    with pytest.raises(CommandError, match=r"app_label\.Model:pgh_id:hash"):
        call_command("pghistory_verify", expect_head=["nonsense"])
    with pytest.raises(CommandError, match="No hash chain"):
        call_command("pghistory_verify", "testapp.NoteEvent")
    with pytest.raises(CommandError, match="Not event models"):
        call_command("pghistory_verify", "testapp.Nope")
    call_command("pghistory_verify", "testapp.ledgerentryevent")  # labels in any case

    with pghistory_core.bypass_append_only(LedgerEntryEvent):
        LedgerEntryEvent.objects.filter(pgh_label="insert").update(account="x")
    with pytest.raises(CommandError, match="failed"):
        call_command("pghistory_verify")
    assert "BROKEN at pgh_id" in capsys.readouterr().out


def test_other_models_are_not_chained():
    Note.objects.create(text="a")
    assert not hasattr(NoteEvent, "pgh_hash")
    assert not any(t.name == "hash_chain" for t in NoteEvent._meta.triggers)
