import pytest

from pghistory_core.models import Events
from tests.admin.helpers import htmx

pytestmark = pytest.mark.django_db


def url(book):
    return f"/admin/testapp/book/{book.pk}/history/compare/"


def book_events(book):
    return list(Events.objects.across("testapp.BookEvent").tracks(book).order_by("pgh_id"))


def changes(response):
    return {change.name: change for change in response.context["changes"]}


def test_two_events_side_by_side(root_client, history):
    book = history["book"]
    insert, update = book_events(book)
    response = root_client.get(url(book), {"a": update.pgh_id, "b": insert.pgh_id})
    assert response.status_code == 200
    result = changes(response)
    # Always older on the left.
    assert response.context["left"].pgh_id == insert.pgh_id
    assert "9.99" in result["price"].old
    assert "12.50" in result["price"].new
    assert "author" not in result
    assert "Before" in response.content.decode()


def test_event_against_the_current_row(root_client, history):
    book = history["book"]
    insert, _ = book_events(book)
    book.status = "published"
    book.save()
    response = root_client.get(url(book), {"a": insert.pgh_id, "b": "current"})
    result = changes(response)
    assert response.context["right"] is None
    assert "Published" in result["status"].new
    assert "The current version" in response.content.decode()


def test_latest_event_equals_the_current_row(root_client, history):
    book = history["book"]
    _, update = book_events(book)
    response = root_client.get(url(book), {"a": update.pgh_id, "b": "current"})
    assert response.context["changes"] == []
    assert "No tracked field changed." in response.content.decode()


def test_compare_is_a_full_page_for_htmx_too(root_client, history):
    book = history["book"]
    insert, update = book_events(book)
    response = htmx(root_client, url(book), {"a": insert.pgh_id, "b": update.pgh_id})
    assert response.status_code == 200
    assert "<html" in response.content.decode()


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"a": "x", "b": "current"},
        {"a": "1", "b": "latest"},
        {"a": "99999999999999999999", "b": "1"},
    ],
)
def test_bad_parameters_are_form_errors(root_client, history, params):
    response = root_client.get(url(history["book"]), params)
    assert response.status_code == 200
    assert response.context["changes"] is None
    assert 'class="errornote"' in response.content.decode()


def test_events_of_another_object_are_refused(root_client, history):
    author_event = Events.objects.filter(pgh_obj_model="testapp.Author").first()
    insert, _ = book_events(history["book"])
    response = root_client.get(url(history["book"]), {"a": insert.pgh_id, "b": author_event.pgh_id})
    assert "not events of this object" in response.content.decode()


def test_deleted_object_has_no_current_version(root_client, history):
    book = history["book"]
    insert, _ = book_events(book)
    pk = book.pk
    book.delete()
    response = root_client.get(
        f"/admin/testapp/book/{pk}/history/compare/", {"a": insert.pgh_id, "b": "current"}
    )
    assert response.status_code == 200
    assert "no current version" in response.content.decode()


def test_compare_needs_view_permission(viewer_client, history):
    assert viewer_client.get(url(history["book"]), {"a": 1, "b": "current"}).status_code == 403


def test_timeline_offers_the_compare_form(root_client, history):
    html = root_client.get(f"/admin/testapp/book/{history['book'].pk}/history/").content.decode()
    assert f'action="{url(history["book"])}"' in html
    assert 'name="b" value="current"' in html
    assert 'for="pgh-b-current"' in html
