import pytest
from django.contrib.auth import get_user_model

from tests.testapp.models import Author, Book


@pytest.fixture
def author(db):
    return Author.objects.create(name="Ursula", email="ursula@example.com")


@pytest.fixture
def book(author):
    return Book.objects.create(title="The Dispossessed", author=author, price="9.99")


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", password="pw")
