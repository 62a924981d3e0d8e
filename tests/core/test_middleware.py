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
