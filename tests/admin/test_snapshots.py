import pytest

from pghistory_admin.snapshots import current_data, diff_data
from pghistory_core.models import Events
from tests.testapp.models import BookEvent, BookPriceEvent, Restaurant, RestaurantEvent

pytestmark = pytest.mark.django_db


def latest_data(obj, event_model):
    events = Events.objects.by_attname().across(event_model).tracks(obj)
    return events.order_by("-pgh_id").first().pgh_data


def test_current_row_is_spelled_like_its_latest_event(history):
    book = history["book"]
    assert current_data(BookEvent, book.pk) == latest_data(book, BookEvent)
    assert current_data(BookPriceEvent, book.pk) == {"price": 12.5}


def test_inherited_fields_are_joined_in():
    restaurant = Restaurant.objects.create(name="Chez Panisse", serves_pizza=True)
    assert current_data(RestaurantEvent, restaurant.pk) == latest_data(restaurant, RestaurantEvent)
    assert current_data(RestaurantEvent, restaurant.pk)["name"] == "Chez Panisse"


def test_deleted_row_has_no_current_data(book):
    pk = book.pk
    book.delete()
    assert current_data(BookEvent, pk) is None


def test_diff_data_keeps_common_keys_that_differ():
    assert diff_data({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 5, "d": 4}) == {"b": [2, 5]}
