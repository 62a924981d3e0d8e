"""Secrets in context metadata are masked before they are stored (``pghistory_core.secrets``)."""

import pytest
from django.db import connection

import pghistory_core
from pghistory_core import secrets
from pghistory_core.models import Context
from tests.testapp.models import BookEvent, Document, DocumentEvent

MASK = secrets.MASK


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("/books/?token=abc123&page=2", f"/books/?token={MASK}&page=2"),
        ("/x/?page=2&api_key=k&PASSWORD=p#top", f"/x/?page=2&api_key={MASK}&PASSWORD={MASK}#top"),
        ("/x/?access%5Ftoken=abc", f"/x/?access%5Ftoken={MASK}"),
        ("/x/?q=token&next=/a/", "/x/?q=token&next=/a/"),
        ("/accounts/reset/MQ/c4k-2f9a8b/", f"/accounts/reset/MQ/{MASK}/"),
        ("/accounts/reset/MQ/set-password/?token=t", f"/accounts/reset/MQ/{MASK}/?token={MASK}"),
        ("/books/1/change/", "/books/1/change/"),
    ],
)
def test_mask_url(url, stored):
    assert secrets.mask_url(url) == stored


def test_mask_args_without_a_parser():
    args = ["--api-token", "t1", "--db-password=p", "--name", "x", "positional", "--secret"]
    assert secrets.mask_args(args) == [
        "--api-token",
        MASK,
        f"--db-password={MASK}",
        "--name",
        "x",
        "positional",
        "--secret",
    ]


def test_settings_are_read_when_used(settings):
    settings.PGHISTORY_SECRET_NAMES = ["pin"]
    settings.PGHISTORY_SECRET_PATHS = [r"^/invite/(\w+)"]
    assert secrets.mask_url("/invite/abc/?pin=1&token=2") == f"/invite/{MASK}/?pin={MASK}&token=2"
    assert secrets.mask_args(["--pin", "1234", "--password", "x"]) == [
        "--pin",
        MASK,
        "--password",
        "x",
    ]
    settings.PGHISTORY_SECRET_PATHS = [r"/session/\w+"]  # no group: the whole match
    assert secrets.mask_url("/session/abc/edit/") == f"{MASK}/edit/"


def stored_metadata():
    with connection.cursor() as cursor:
        cursor.execute("SELECT metadata::text FROM pghistory_core_context")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_context_values_are_masked_before_they_reach_the_database(book):
    with pghistory_core.context(
        url="/books/?token=abc123", api_token="abc123", note="kept", command_args=["--password=x"]
    ):
        book.title = "Masked"
        book.save()
    metadata = BookEvent.objects.get(pgh_label="update").pgh_context.metadata
    assert metadata == {
        "url": f"/books/?token={MASK}",
        "api_token": MASK,
        "note": "kept",
        "command_args": [f"--password={MASK}"],
    }
    assert not any("abc123" in text for text in stored_metadata())


@pytest.mark.django_db
def test_json_context_events_are_masked_too():
    with pghistory_core.context(url="/d/?token=abc123"):
        Document.objects.create(body="x")
    stored = DocumentEvent.objects.get().pgh_context
    assert stored["url"] == f"/d/?token={MASK}"


@pytest.mark.django_db
def test_request_paths_are_masked_by_the_middleware(client, book):
    response = client.post("/accounts/reset/MQ/c4k-2f9a8b/", {"book": book.pk, "title": "Reset"})
    assert response.status_code == 200
    event = BookEvent.objects.get(pgh_label="update")
    assert event.pgh_context.metadata["url"] == f"/accounts/reset/MQ/{MASK}/"
    assert Context.objects.filter(metadata__url__contains="c4k").count() == 0
