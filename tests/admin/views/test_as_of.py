"""The as-of page: an object as it was at a chosen moment."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

import pghistory_core
from tests.core.moments import at
from tests.testapp.models import Author, Book, BookEvent, BookTag, Tag

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)


def t(hours):
    return T0 + timedelta(hours=hours)


def param(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M:%S")


def url(pk, moment=None, model="book"):
    base = f"/admin/testapp/{model}/{pk}/history/as-of/"
    return base if moment is None else f"{base}?at={param(moment)}"


@pytest.fixture
def story():
    """A book created at t(0) with a tag, edited at t(2) (title, tag removed, author renamed)."""
    sf, classic = Tag.objects.create(name="sf"), Tag.objects.create(name="classic")
    with at(t(0)):
        author = Author.objects.create(name="Ursula")
        book = Book.objects.create(title="Draft", author=author, price="5.00")
        BookTag.objects.create(book=book, tag=sf)
        old_link = BookTag.objects.create(book=book, tag=classic)
    with at(t(2)), pghistory_core.context(user=1):
        Book.objects.filter(pk=book.pk).update(title="Final", price="8.00")
        Author.objects.filter(pk=author.pk).update(name="Ursula K. Le Guin")
        old_link.delete()
    return book


def values(response):
    return {value.name: value for value in response.context["values"]}


def test_the_object_as_it_was(root_client, story):
    response = root_client.get(url(story.pk, t(1)))
    assert response.status_code == 200
    by_name = values(response)
    assert "Draft" in by_name["title"].value
    assert "5.00" in by_name["price"].value
    # The author as it was then, not as it is now.
    assert "Ursula (#" in by_name["author"].value
    assert "Le Guin" not in by_name["author"].value


def test_inline_rows_as_they_were(root_client, story):
    response = root_client.get(url(story.pk, t(1)))
    [section] = response.context["related_rows"]
    tags = [row[0].value for row in section.rows]
    assert len(tags) == 2
    classic = Tag.objects.get(name="classic")
    assert any(f"(#{classic.pk})" in tag for tag in tags)
    later = root_client.get(url(story.pk, t(3))).context["related_rows"][0]
    assert len(later.rows) == 1
    # Tags are not tracked: shown as they are now, and marked.
    assert "now" in later.rows[0][0].value


def test_diff_from_then_to_now_and_revert_through_the_revert_view(root_client, story):
    response = root_client.get(url(story.pk, t(1)))
    changes = {change.name: change for change in response.context["changes"]}
    assert set(changes) >= {"title", "price"}
    assert "Draft" in changes["title"].old and "Final" in changes["title"].new
    revert_url = response.context["revert_url"]
    event = BookEvent.objects.get(pgh_obj_id=story.pk, pgh_label="insert")
    assert revert_url == f"/admin/testapp/book/{story.pk}/history/{event.pgh_id}/revert/"
    assert f'href="{revert_url}"' in response.content.decode()
    preview = root_client.get(revert_url)
    assert preview.status_code == 200
    root_client.post(revert_url)
    story.refresh_from_db()
    assert story.title == "Draft"


def test_not_yet_created_and_deleted(root_client, story):
    response = root_client.get(url(story.pk, t(-1)))
    assert response.status_code == 200
    assert response.context["missing"].state == "not_created"
    assert "did not exist yet" in response.content.decode()
    pk = story.pk
    with at(t(5)):
        story.delete()
    response = root_client.get(url(pk, t(6)))
    assert response.context["missing"].state == "deleted"
    assert "had been deleted" in response.content.decode()
    past = root_client.get(url(pk, t(3)))
    assert "Final" in values(past)["title"].value
    assert past.context["changes"] is None
    assert "deleted since" in past.content.decode()


@pytest.mark.parametrize(
    "value", ["yesterday", "2025-13-01T00:00", "99999-01-01T00:00", "0001-01-01T00:00", ""]
)
def test_bad_moments_are_form_errors(root_client, story, value):
    response = root_client.get(url(story.pk), {"at": value})
    assert response.status_code == 400
    assert response.context["form"].errors
    assert 'class="errornote"' in response.content.decode()


def test_without_a_moment_only_the_form(root_client, story):
    response = root_client.get(url(story.pk))
    assert response.status_code == 200
    assert 'type="datetime-local"' in response.content.decode()
    assert "values" not in response.context


def test_related_models_the_user_may_not_view_show_no_values(client, make_staff, story):
    # May view books only: neither the author's name nor the tag rows show.
    client.force_login(make_staff("books", "testapp.view_book"))
    response = client.get(url(story.pk, t(1)))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Ursula" not in html
    assert f"#{story.author_id}" in values(response)["author"].value
    assert response.context["related_rows"] == []
    assert "Tag object" not in html
    assert response.context["revert_url"] is None  # no change permission


def test_related_models_the_user_may_view(client, make_staff, story):
    client.force_login(
        make_staff("books", "testapp.view_book", "testapp.view_author", "testapp.view_booktag")
    )
    response = client.get(url(story.pk, t(1)))
    assert "Ursula (#" in values(response)["author"].value
    assert len(response.context["related_rows"][0].rows) == 2


def test_needs_permission_on_the_model(viewer_client, story):
    assert viewer_client.get(url(story.pk, t(1))).status_code == 403
