"""Helpers shared by the admin tests."""

import contextlib

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connections

import pghistory_core
from tests.testapp.models import Book

#: What the statement timeout costs a page inside the test's transaction: a savepoint, reading
#: the enclosing timeout, setting it, putting it back, releasing (in autocommit: one set_config).
TIMEOUT_QUERIES = 5


def grant(user, *codenames):
    """Give ``user`` permissions named "app_label.codename"; returns a fresh instance."""
    for name in codenames:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    # Permissions are cached on the instance.
    return get_user_model().objects.get(pk=user.pk)


def htmx(client, url, params=None):
    """GET ``url`` as htmx does (``HX-Request``)."""
    return client.get(url, params or {}, HTTP_HX_REQUEST="true")


def template_names(response):
    return [t.name for t in response.templates if t.name]


def book_updates(book, count, user=None):
    """``count`` recorded updates of ``book``, each in its own context."""
    for index in range(count):
        with pghistory_core.context(user=user.pk if user else None, url=f"/edit/{index}"):
            Book.objects.filter(pk=book.pk).update(title=f"Title {index}")


@contextlib.contextmanager
def locked(model):
    """An ACCESS EXCLUSIVE lock on ``model``'s table, held by another connection (which ends
    itself after 20 s, so a missing timeout fails the test instead of hanging it)."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SET idle_in_transaction_session_timeout = '20s'")
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute(f'LOCK TABLE "{model._meta.db_table}" IN ACCESS EXCLUSIVE MODE')
        yield
    finally:
        with contextlib.suppress(Exception):
            other.rollback()
        other.close()
