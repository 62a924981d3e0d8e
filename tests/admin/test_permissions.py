import pytest

from pghistory_admin.permissions import (
    can_view_model,
    event_models_of,
    viewable_event_models,
)
from pghistory_core.registry import event_models
from tests.testapp.models import (
    Author,
    AuthorEvent,
    Book,
    BookEvent,
    BookPriceEvent,
    Restaurant,
    RestaurantEvent,
)

pytestmark = pytest.mark.django_db


def test_superuser_views_every_event_model(superuser):
    assert viewable_event_models(superuser) == event_models()


def test_view_permission_gives_only_that_models_events(author_viewer):
    assert viewable_event_models(author_viewer) == [AuthorEvent]
    assert can_view_model(author_viewer, Author)
    assert not can_view_model(author_viewer, Book)


def test_change_permission_also_lets_view(make_staff):
    editor = make_staff("editor", "testapp.change_book")
    assert set(viewable_event_models(editor)) == {BookEvent, BookPriceEvent}


def test_staff_without_permissions_sees_nothing(make_staff):
    assert viewable_event_models(make_staff("nobody")) == []


def test_non_staff_sees_nothing_even_with_permissions(make_staff):
    user = make_staff("outsider", "testapp.view_author", "testapp.change_author", is_staff=False)
    assert viewable_event_models(user) == []


def test_inactive_staff_sees_nothing(superuser):
    superuser.is_active = False
    assert viewable_event_models(superuser) == []


def test_event_models_of_a_model():
    assert set(event_models_of(Book)) == {BookEvent, BookPriceEvent}
    assert event_models_of(Restaurant) == [RestaurantEvent]
