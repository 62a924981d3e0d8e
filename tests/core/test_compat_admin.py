"""django-pghistory 3.x's events admin (``pghistory_core.admin``), through the real admin."""

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings
from django.urls import reverse

from pghistory_core import config
from pghistory_core.admin import EventModelAdmin, EventsAdmin
from pghistory_core.models import Events, MiddlewareEvents
from tests.testapp.models import Author, Book

AuthorEvent = Author.pgh_event_model
URL = "/admin/pghistory_core/events/"


def _user(username, *codenames, superuser=False):
    User = get_user_model()
    if superuser:
        return User.objects.create_superuser(username, f"{username}@example.com", "pw")
    user = User.objects.create_user(username, password="pw", is_staff=True)
    for name in codenames:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return User.objects.get(pk=user.pk)


@pytest.fixture
def history(db):
    author = Author.objects.create(name="Ann")
    author.name = "Anna"
    author.save()
    Book.objects.create(title="Dune", author=author, price=5)
    return author


def _listed(response):
    assert response.status_code == 200
    changelist = response.context["cl"]
    return sorted((e.pgh_model, e.pgh_label) for e in changelist.result_list)


def test_the_app_registers_events_admin_for_events():
    assert isinstance(admin.site._registry[Events], EventsAdmin)


def test_events_changelist_renders_every_event_with_its_filters(client, history):
    client.force_login(_user("root", superuser=True))
    response = client.get(URL)
    assert _listed(response) == [
        ("testapp.AuthorEvent", "insert"),
        ("testapp.AuthorEvent", "update"),
        ("testapp.BookEvent", "insert"),
    ]
    html = response.content.decode()
    assert "3 events" in html
    assert "By label" in html and "By event model" in html
    assert 'href="?label=price_changed"' in html  # every tracker label is offered
    # Read-only: no add button.
    assert "/admin/pghistory_core/events/add/" not in html


def test_3x_url_name_of_the_events_page_reverses_to_it(client, history):
    assert reverse("admin:pghistory_events_changelist") == URL
    client.force_login(_user("root", superuser=True))
    assert "3 events" in client.get(reverse("admin:pghistory_events_changelist")).content.decode()


def test_filters_by_label_and_event_model(client, history):
    client.force_login(_user("root", superuser=True))
    assert _listed(client.get(URL, {"label": "insert"})) == [
        ("testapp.AuthorEvent", "insert"),
        ("testapp.BookEvent", "insert"),
    ]
    assert _listed(client.get(URL, {"event_model": "testapp.authorevent"})) == [
        ("testapp.AuthorEvent", "insert"),
        ("testapp.AuthorEvent", "update"),
    ]
    assert _listed(client.get(URL, {"obj": f"testapp.Author:{history.pk}"})) == [
        ("testapp.AuthorEvent", "insert"),
        ("testapp.AuthorEvent", "update"),
    ]
    assert _listed(
        client.get(URL, {"obj": f"testapp.Author:{history.pk}", "method": "references"})
    ) == [
        ("testapp.AuthorEvent", "insert"),
        ("testapp.AuthorEvent", "update"),
        ("testapp.BookEvent", "insert"),
    ]
    response = client.get(URL, {"model": "testapp.Book"})
    assert _listed(response) == [("testapp.BookEvent", "insert")]
    assert "testapp.Book" in response.content.decode()  # the subtitle


@pytest.mark.parametrize(
    "params",
    [{"event_model": "testapp.nope"}, {"event_model": "x"}, {"obj": "nope"}, {"model": "a.b"}],
)
def test_a_bad_filter_value_is_the_admins_invalid_filter_page_not_a_500(client, history, params):
    client.force_login(_user("root", superuser=True))
    response = client.get(URL, params)
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_a_user_sees_only_events_of_models_they_may_view(client, history):
    client.force_login(_user("viewer", "pghistory_core.view_events", "testapp.view_author"))
    assert _listed(client.get(URL)) == [
        ("testapp.AuthorEvent", "insert"),
        ("testapp.AuthorEvent", "update"),
    ]
    html = client.get(URL).content.decode()
    assert "testapp.bookevent" not in html  # not offered as a filter either
    # Asking for a hidden event model by name shows nothing of it.
    assert client.get(URL, {"event_model": "testapp.bookevent"}).status_code == 302
    assert _listed(
        client.get(URL, {"obj": f"testapp.Author:{history.pk}", "method": "references"})
    ) == [
        ("testapp.AuthorEvent", "insert"),
        ("testapp.AuthorEvent", "update"),
    ]


def test_without_the_events_permission_the_page_is_refused(client, history):
    client.force_login(_user("author_only", "testapp.view_author"))
    assert client.get(URL).status_code == 403


@override_settings(PGHISTORY_ADMIN_ALL_EVENTS=False)
def test_all_events_false_lists_nothing_until_a_filter_is_chosen(client, history):
    client.force_login(_user("root", superuser=True))
    response = client.get(URL)
    assert _listed(response) == []
    assert "0 events" in response.content.decode()
    assert len(_listed(client.get(URL, {"label": "insert"}))) == 2


def test_event_model_admin_is_read_only_and_filters_by_label(history):
    model_admin = EventModelAdmin(AuthorEvent, admin.site)
    root = _user("root", superuser=True)
    request = RequestFactory().get("/", {"label": "update"})
    request.user = root
    response = model_admin.changelist_view(request)
    changelist = response.context_data["cl"]
    assert [e.name for e in changelist.result_list] == ["Anna"]
    assert [choice[0] for choice in changelist.filter_specs[0].lookup_choices] == [
        "delete",
        "insert",
        "snapshot",
        "update",
    ]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    request.user = _user("books_only", "testapp.view_authorevent", "testapp.view_book")
    assert not model_admin.has_view_permission(request)


def test_admin_settings_defaults_and_3x_labels(db):
    assert config.admin_ordering() == ["-pgh_created_at"]
    assert config.admin_model() is Events
    assert config.admin_queryset().model is Events
    assert config.admin_class() is EventsAdmin
    assert config.admin_all_events() is True
    assert config.admin_list_display() == [
        "pgh_created_at",
        "pgh_obj_model",
        "pgh_obj_id",
        "pgh_diff",
    ]
    with override_settings(PGHISTORY_ADMIN_MODEL="pghistory.MiddlewareEvents"):
        assert config.admin_model() is MiddlewareEvents
        assert config.admin_list_display()[-2:] == ["user", "url"]
    with override_settings(PGHISTORY_ADMIN_ORDERING="pgh_id"):
        assert config.admin_ordering() == ["pgh_id"]
    with override_settings(PGHISTORY_ADMIN_CLASS="pghistory.admin.EventsAdmin"):
        assert config.admin_class() is EventsAdmin
    bad = override_settings(PGHISTORY_ADMIN_CLASS="pghistory_core.admin.EventModelAdmin")
    with bad, pytest.raises(ImproperlyConfigured, match=r"subclass of pghistory_core\.admin\."):
        config.admin_class()


# The buttons on tracked models' admin pages (3.x's test_events_links / test_event_links) ------


class _Links(HTMLParser):
    """``href`` of every ``<a>`` by class."""

    def __init__(self, html):
        super().__init__()
        self.by_class = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("class"):
            self.by_class.setdefault(attrs["class"], []).append(attrs.get("href"))


def _links(response):
    assert response.status_code == 200
    return _Links(response.content.decode()).by_class


def _back_of(client, url):
    [back] = _links(client.get(url))["back"]
    return back


def test_a_tracked_models_change_list_links_to_its_events_and_back(client, history):
    client.force_login(_user("root", superuser=True))
    page = "/admin/testapp/author/"
    [events_url] = _links(client.get(page))["events-admin"]
    assert events_url.startswith(URL)
    assert parse_qs(urlsplit(events_url).query) == {"model": ["testapp.Author"], "back": [page]}
    assert _listed(client.get(events_url)) == [
        ("testapp.AuthorEvent", "insert"),
        ("testapp.AuthorEvent", "update"),
    ]
    assert _back_of(client, events_url) == page
    # An untracked model's pages have no such button.
    assert "events-admin" not in _links(client.get("/admin/testapp/tag/"))


def test_a_tracked_objects_change_form_links_to_its_events_and_event_model_admins(client, history):
    client.force_login(_user("root", superuser=True))
    page = f"/admin/testapp/author/{history.pk}/change/"
    links = _links(client.get(page))
    [events_url] = links["events-admin"]
    assert "event-admin" not in links  # no EventModelAdmin for AuthorEvent on this site
    query = {"method": ["tracks"], "obj": [f"testapp.Author:{history.pk}"], "back": [page]}
    assert parse_qs(urlsplit(events_url).query) == query
    response = client.get(events_url)
    assert f"testapp.Author:{history.pk}" in response.content.decode()
    assert _listed(response) == [
        ("testapp.AuthorEvent", "insert"),
        ("testapp.AuthorEvent", "update"),
    ]
    assert _back_of(client, events_url) == page
    assert len(_listed(client.get(events_url.replace("tracks", "references")))) == 3

    # The custom site has an EventModelAdmin for AuthorEvent, and no events admin.
    page = f"/custom-admin/testapp/author/{history.pk}/change/"
    links = _links(client.get(page))
    assert "events-admin" not in links
    [event_url] = links["event-admin"]
    assert event_url.startswith("/custom-admin/testapp/authorevent/?")
    response = client.get(event_url)
    assert f"testapp.Author:{history.pk}" in response.content.decode()
    assert sorted(e.pgh_label for e in response.context["cl"].result_list) == ["insert", "update"]
    assert _back_of(client, event_url) == page


def test_event_buttons_are_offered_only_to_users_who_may_view_the_events(client, history):
    client.force_login(_user("author_only", "testapp.view_author"))
    page = f"/admin/testapp/author/{history.pk}/change/"
    assert "events-admin" not in _links(client.get(page))
    client.force_login(_user("viewer", "testapp.view_author", "pghistory_core.view_events"))
    assert "events-admin" in _links(client.get(page))


def test_an_offsite_back_url_is_not_offered(client, history):
    client.force_login(_user("root", superuser=True))
    response = client.get(URL, {"model": "testapp.Author", "back": "https://evil.example/"})
    assert "back" not in _links(response)
