import pytest
from django.contrib.auth import get_user_model

import pghistory_core
from tests.admin.helpers import grant


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def make_staff(db):
    def make(username, *codenames, is_staff=True):
        user = get_user_model().objects.create_user(username, password="pw", is_staff=is_staff)
        return grant(user, *codenames)

    return make


@pytest.fixture
def author_viewer(make_staff):
    """A staff user who may only view authors."""
    return make_staff("viewer", "testapp.view_author")


@pytest.fixture
def root_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def viewer_client(client, author_viewer):
    client.force_login(author_viewer)
    return client


@pytest.fixture
def history(author, book, superuser):
    """The book renamed and repriced by ``superuser`` in a request; the author changed by a command."""
    with pghistory_core.context(
        user=superuser.pk, url="/admin/testapp/book/1/change/", request_id="r1"
    ):
        book.title = "The Dispossessed (2nd ed.)"
        book.price = "12.50"
        book.save()
    with pghistory_core.context(command="seed", command_args=["--fast"]):
        author.email = "ursula@le-guin.example"
        author.save()
    return {"author": author, "book": book}
