"""HistoryMiddleware records the user and URL of requests that write."""

import pytest
from django.test import AsyncClient

from pghistory_core.models import Context
from tests.testapp.models import BookEvent

pytestmark = pytest.mark.django_db


def test_user_and_url_recorded(client, user, book):
    client.force_login(user)
    response = client.post(f"/books/{book.pk}/rename/", {"title": "Web"})
    assert response.status_code == 200
    event = BookEvent.objects.get(pgh_label="update")
    assert event.title == "Web"
    assert event.pgh_context.metadata == {"user": user.pk, "url": f"/books/{book.pk}/rename/"}


def test_anonymous_request(client, book):
    client.post(f"/books/{book.pk}/rename/", {"title": "Anon"})
    assert BookEvent.objects.get(pgh_label="update").pgh_context.metadata["user"] is None


def test_user_set_later_by_the_view_is_picked_up(client, user, book):
    client.post(
        f"/books/{book.pk}/rename-late-auth/", {"title": "Token", "username": user.username}
    )
    assert BookEvent.objects.get(pgh_label="update").pgh_context.metadata["user"] == user.pk


@pytest.mark.django_db(transaction=True)
def test_async_view(user, book):
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connections

    async def run():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.post(f"/books/{book.pk}/rename-async/", {"title": "Async"})
        await sync_to_async(connections.close_all)()
        return response

    assert asyncio.run(run()).status_code == 200
    event = BookEvent.objects.get(pgh_label="update")
    assert event.pgh_context.metadata == {"user": user.pk, "url": f"/books/{book.pk}/rename-async/"}


def test_methods_setting(client, book, settings):
    settings.PGHISTORY_MIDDLEWARE_METHODS = ["PUT"]
    client.post(f"/books/{book.pk}/rename/", {"title": "No context"})
    assert BookEvent.objects.get(pgh_label="update").pgh_context_id is None
    assert not Context.objects.exists()


def _streamed_events(book):
    events = list(BookEvent.objects.filter(pgh_label="update").order_by("pgh_id"))
    return [(e.title, e.pgh_context_id) for e in events]


def test_writes_while_a_response_streams_carry_the_requests_context(client, user, book):
    client.force_login(user)
    response = client.get(f"/books/{book.pk}/stream/")
    assert b"".join(response.streaming_content) == b"onetwo"
    (view_title, view_context), (streamed_title, streamed_context) = _streamed_events(book)
    assert (view_title, streamed_title) == ("in the view", "streamed")
    assert streamed_context is not None
    assert streamed_context == view_context
    assert Context.objects.get(pk=streamed_context).metadata == {
        "user": user.pk,
        "url": f"/books/{book.pk}/stream/",
    }


@pytest.mark.django_db(transaction=True)
def test_no_context_leaks_out_of_a_streaming_response(client, book):
    # Autocommit, as a streamed response is sent (outside the view's transaction). Inside one
    # transaction a context that closed stays in effect until it ends (django-pghistory 3.x).
    from pghistory_core import runtime

    response = client.get(f"/books/{book.pk}/stream/")
    iterator = iter(response.streaming_content)
    next(iterator)
    assert runtime.current() is None  # between chunks, outside any context
    from tests.testapp.models import Book

    Book.objects.filter(pk=book.pk).update(title="outside")
    assert BookEvent.objects.get(title="outside").pgh_context_id is None
    list(iterator)


@pytest.mark.django_db(transaction=True)
def test_async_streaming_response_keeps_the_context(user, book):
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connections

    async def run():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(f"/books/{book.pk}/stream-async/")
        body = b"".join([chunk async for chunk in response.streaming_content])
        await sync_to_async(connections.close_all)()
        return body

    assert asyncio.run(run()) == b"one"
    (_, view_context), (_, streamed_context) = _streamed_events(book)
    assert streamed_context is not None
    assert streamed_context == view_context
