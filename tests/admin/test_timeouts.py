"""Every history page and export runs under PGHISTORY_ADMIN_STATEMENT_TIMEOUT.

The slow query is real: another connection holds an ACCESS EXCLUSIVE lock on an event table,
so the page's query waits on it until its statement timeout cancels it (a lock wait counts
toward ``statement_timeout``). The locking session ends itself after 20 s
(``idle_in_transaction_session_timeout``), so without a timeout the test fails instead of hanging.
"""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

import pghistory_core
from pghistory_admin import timeouts
from tests.admin.helpers import locked
from tests.testapp.models import Author, Book, BookEvent

AUDIT_LOG = "/admin/pghistory_admin/auditlog/"


@pytest.fixture
def slow_world(transactional_db, client, settings):
    settings.PGHISTORY_ADMIN_STATEMENT_TIMEOUT = 0.3
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    author = Author.objects.create(name="Ursula")
    with pghistory_core.context(user=root.pk):
        book = Book.objects.create(title="The Dispossessed", author=author, price="9.99")
    client.force_login(root)
    return {"client": client, "book": book}


def history_pages(book):
    base = f"/admin/testapp/book/{book.pk}/history/"
    event = BookEvent.objects.filter(pgh_obj_id=book.pk).first()
    return [
        AUDIT_LOG,
        f"{AUDIT_LOG}{event.pgh_id}/diff/",
        base,
        f"{base}compare/?a={event.pgh_id}&b=current",
        f"{base}{event.pgh_id}/revert/",
        f"{AUDIT_LOG}export/",
        f"{base}export/",
    ]


@pytest.mark.parametrize("index", range(7))
def test_a_page_that_times_out_says_so(slow_world, index):
    client = slow_world["client"]
    url = history_pages(slow_world["book"])[index]
    with locked(BookEvent):
        response = client.get(url)
    assert response.status_code == 503
    assert not response.streaming
    page = response.content.decode()
    assert "The history query took longer than 0.3 s and was stopped" in page
    assert "<title>" in page
    # The connection is usable and the page works once the lock is gone.
    assert client.get(url).status_code == 200


def test_an_htmx_request_gets_the_message_alone(slow_world):
    client = slow_world["client"]
    with locked(BookEvent):
        response = client.get(AUDIT_LOG, {"model": "testapp.book"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200  # htmx swaps only successful responses
    page = response.content.decode()
    assert "took longer than 0.3 s" in page
    assert "<html" not in page


def test_no_timeout_when_disabled(settings, db):
    settings.PGHISTORY_ADMIN_STATEMENT_TIMEOUT = None
    with timeouts.statement_timeout(), connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


def test_the_timeout_is_local_to_its_transaction(settings, db):
    settings.PGHISTORY_ADMIN_STATEMENT_TIMEOUT = 1.5
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', '7s', true)")
    with timeouts.statement_timeout(), connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "1500ms"
    with connection.cursor() as cursor:  # the enclosing transaction's own value is back
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "7s"


def test_the_read_database_is_bounded_too(settings):
    settings.PGHISTORY_ADMIN_DATABASE = "other"
    assert timeouts.aliases() == ["other", "default"]
    settings.PGHISTORY_ADMIN_DATABASE = None
    assert timeouts.aliases() == ["default"]


@pytest.mark.django_db(databases=["default", "other"])
def test_the_timeout_applies_on_each_alias(settings):
    settings.PGHISTORY_ADMIN_DATABASE = "other"
    settings.PGHISTORY_ADMIN_STATEMENT_TIMEOUT = 2
    with timeouts.statement_timeout():
        for alias in ("other", "default"):
            with connections[alias].cursor() as cursor:
                cursor.execute("SHOW statement_timeout")
                assert cursor.fetchone()[0] == "2s"
