"""Permission matrix: every history endpoint of the admin against every kind of user.

Users: anonymous, an active non-staff user (holding view permissions, which must not matter), a
staff user without permissions, a staff user who may view books and nothing else, a superuser.
For each (user, endpoint) the status (or login redirect) is fixed, and whatever a response shows
must hold nothing of a model the user may not view: no rows, filter choices, context metadata or
object labels. The book viewer's critical case is a book's foreign key to an author: the diff
shows the author's raw id, never its name (``str()``) or whether it still exists.

Reverts need the change permission, a POST and a CSRF token; a GET never writes.
"""

import csv
import io

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.utils.crypto import get_random_string

import pghistory_core
from pghistory_admin.export import cells as export_columns
from pghistory_core.models import Events
from tests.admin.helpers import grant
from tests.testapp.models import Author, AuthorEvent, Book, BookEvent, Counter, Document

pytestmark = pytest.mark.django_db

AUDIT_LOG = "/admin/pghistory_admin/auditlog/"
LOGIN = "/admin/login/"

# Strings that exist only in models the book viewer may not see (and in the one context that
# touched authors only). None of them may appear in anything the book viewer receives.
AUTHOR_NAME = "Zanzibar-Author-Label"
OTHER_AUTHOR_NAME = "Quixotic-Other-Author"
AUTHOR_EMAIL = "hidden-author@nowhere.example"
AUTHOR_EMAIL_2 = "hidden-author-2@nowhere.example"
AUTHOR_ONLY_CONTEXT_VALUE = "author-only-context-value-k7"
AUTHOR_ONLY_CONTEXT_KEY = "author_only_key"
DOCUMENT_BODY = "document-body-never-shown-x9"
BOOK_TITLE = "Visible Book Title"

FORBIDDEN_FOR_BOOK_VIEWER = [
    AUTHOR_NAME,
    OTHER_AUTHOR_NAME,
    AUTHOR_EMAIL,
    AUTHOR_EMAIL_2,
    AUTHOR_ONLY_CONTEXT_VALUE,
    AUTHOR_ONLY_CONTEXT_KEY,
    DOCUMENT_BODY,
    # Filter choices of other models: the model, its fields and its tracker labels.
    '<option value="testapp.author"',
    '<option value="testapp.counter"',
    '<option value="testapp.document"',
    '<option value="email"',
    '<option value="name"',
    '<option value="body"',
    '<option value="snapshot"',
    # CSV rows of other models.
    "testapp.Author",
    "testapp.Document",
    "testapp.Counter",
]

ROLES = ["anonymous", "non_staff", "staff_no_perms", "book_viewer", "superuser"]


@pytest.fixture
def world(db):
    """Authors, a book pointing at them, other models; one context touching authors only."""
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    with pghistory_core.context(user=root.pk, url="/setup/"):
        author = Author.objects.create(name=AUTHOR_NAME, email=AUTHOR_EMAIL)
        other = Author.objects.create(name=OTHER_AUTHOR_NAME)
        book = Book.objects.create(title=BOOK_TITLE, author=author, price="9.99")
    with pghistory_core.context(
        url="/authors-only/", **{AUTHOR_ONLY_CONTEXT_KEY: AUTHOR_ONLY_CONTEXT_VALUE}
    ):
        Author.objects.filter(pk=author.pk).update(email=AUTHOR_EMAIL_2)
    author_only_context = AuthorEvent.objects.filter(pgh_label="update").get().pgh_context_id
    with pghistory_core.context(user=root.pk, url="/edit-book/", request_id="r-book"):
        Book.objects.filter(pk=book.pk).update(author=other, price="12.50")
    Counter.objects.create(value=7)
    Document.objects.create(body=DOCUMENT_BODY)
    book_insert = BookEvent.objects.filter(pgh_obj_id=book.pk, pgh_label="insert").get()
    book_update = BookEvent.objects.filter(pgh_obj_id=book.pk, pgh_label="update").get()
    author_insert = AuthorEvent.objects.filter(pgh_obj_id=author.pk, pgh_label="insert").get()
    return {
        "root": root,
        "author": author,
        "other": other,
        "book": book,
        "book_insert": book_insert.pgh_id,
        "book_update": book_update.pgh_id,
        "author_insert": author_insert.pgh_id,
        "author_only_context": author_only_context,
    }


def make_user(role, world):
    users = get_user_model().objects
    if role == "anonymous":
        return AnonymousUser()
    if role == "superuser":
        return world["root"]
    if role == "non_staff":
        # Holding every permission of the models does not make a user staff.
        user = users.create_user("outsider", password="pw", is_staff=False)
        return grant(
            user,
            "testapp.view_book",
            "testapp.change_book",
            "testapp.view_author",
            "testapp.change_author",
        )
    if role == "staff_no_perms":
        return users.create_user("nobody", password="pw", is_staff=True)
    if role == "book_viewer":
        user = users.create_user("bookviewer", password="pw", is_staff=True)
        return grant(user, "testapp.view_book")
    raise AssertionError(role)


def client_for(role, world, **kwargs):
    client = Client(**kwargs)
    user = make_user(role, world)
    if user.is_authenticated:
        client.force_login(user)
    return client


# Each endpoint: the request (path and query from the world, htmx or not) and the status each
# role gets. "login" means a redirect to the admin's login page.
def _book(world, suffix=""):
    return f"/admin/testapp/book/{world['book'].pk}/history/{suffix}"


def _author(world, suffix=""):
    return f"/admin/testapp/author/{world['author'].pk}/history/{suffix}"


DENIED = {"anonymous": "login", "non_staff": "login", "staff_no_perms": 403}

ENDPOINTS = {
    "audit_log": (lambda w: (AUDIT_LOG, {}), False, {"book_viewer": 200, "superuser": 200}),
    "audit_log_partial": (lambda w: (AUDIT_LOG, {}), True, {"book_viewer": 200, "superuser": 200}),
    "audit_log_page_2_partial": (
        lambda w: (AUDIT_LOG, {"before": w["book_update"] + 1}),
        True,
        {"book_viewer": 200, "superuser": 200},
    ),
    "audit_log_model_author": (
        lambda w: (AUDIT_LOG, {"model": "testapp.author"}),
        False,
        {"book_viewer": 200, "superuser": 200},
    ),
    "audit_log_object_of_author": (
        lambda w: (AUDIT_LOG, {"object": w["author"].pk, "field": "email"}),
        True,
        {"book_viewer": 200, "superuser": 200},
    ),
    "audit_log_author_only_context": (
        lambda w: (AUDIT_LOG, {"context_id": str(w["author_only_context"])}),
        False,
        {"book_viewer": 200, "superuser": 200},
    ),
    "audit_log_author_only_context_partial": (
        lambda w: (AUDIT_LOG, {"context_id": str(w["author_only_context"])}),
        True,
        {"book_viewer": 200, "superuser": 200},
    ),
    "audit_log_context_filter": (
        lambda w: (
            AUDIT_LOG,
            {"context": f"{AUTHOR_ONLY_CONTEXT_KEY}={AUTHOR_ONLY_CONTEXT_VALUE}"},
        ),
        True,
        {"book_viewer": 200, "superuser": 200},
    ),
    "audit_log_user_filter": (
        lambda w: (AUDIT_LOG, {"user": "root"}),
        True,
        {"book_viewer": 200, "superuser": 200},
    ),
    "export": (
        lambda w: (AUDIT_LOG + "export/", {}),
        False,
        {"book_viewer": 200, "superuser": 200},
    ),
    "export_model_author": (
        lambda w: (AUDIT_LOG + "export/", {"model": "testapp.author"}),
        False,
        # A model the user may not view is not a valid choice: the page with the form error.
        {"book_viewer": 400, "superuser": 200},
    ),
    "export_author_only_context": (
        lambda w: (AUDIT_LOG + "export/", {"context_id": str(w["author_only_context"])}),
        False,
        {"book_viewer": 200, "superuser": 200},
    ),
    "book_diff": (
        lambda w: (f"{AUDIT_LOG}{w['book_update']}/diff/", {}),
        False,
        {"book_viewer": 200, "superuser": 200},
    ),
    "book_diff_partial": (
        lambda w: (f"{AUDIT_LOG}{w['book_update']}/diff/", {}),
        True,
        {"book_viewer": 200, "superuser": 200},
    ),
    "book_insert_diff_partial": (
        lambda w: (f"{AUDIT_LOG}{w['book_insert']}/diff/", {}),
        True,
        {"book_viewer": 200, "superuser": 200},
    ),
    "author_diff": (
        lambda w: (f"{AUDIT_LOG}{w['author_insert']}/diff/", {}),
        False,
        {"book_viewer": 404, "superuser": 200},
    ),
    "author_diff_partial": (
        lambda w: (f"{AUDIT_LOG}{w['author_insert']}/diff/", {}),
        True,
        {"book_viewer": 404, "superuser": 200},
    ),
    "book_history": (lambda w: (_book(w), {}), False, {"book_viewer": 200, "superuser": 200}),
    "book_history_partial": (
        lambda w: (_book(w), {"before": w["book_update"] + 1}),
        True,
        {"book_viewer": 200, "superuser": 200},
    ),
    "author_history": (lambda w: (_author(w), {}), False, {"book_viewer": 403, "superuser": 200}),
    "author_history_partial": (
        lambda w: (_author(w), {}),
        True,
        {"book_viewer": 403, "superuser": 200},
    ),
    "book_compare_current": (
        lambda w: (_book(w, "compare/"), {"a": w["book_insert"], "b": "current"}),
        False,
        {"book_viewer": 200, "superuser": 200},
    ),
    "book_compare_events": (
        lambda w: (_book(w, "compare/"), {"a": w["book_insert"], "b": w["book_update"]}),
        False,
        {"book_viewer": 200, "superuser": 200},
    ),
    "book_compare_with_author_event": (
        lambda w: (_book(w, "compare/"), {"a": w["author_insert"], "b": "current"}),
        False,
        {"book_viewer": 200, "superuser": 200},
    ),
    "author_compare": (
        lambda w: (_author(w, "compare/"), {"a": w["author_insert"], "b": "current"}),
        False,
        {"book_viewer": 403, "superuser": 200},
    ),
    "book_revert_preview": (
        lambda w: (_book(w, f"{w['book_insert']}/revert/"), {}),
        False,
        {"book_viewer": 403, "superuser": 200},
    ),
    "author_revert_preview": (
        lambda w: (_author(w, f"{w['author_insert']}/revert/"), {}),
        False,
        {"book_viewer": 403, "superuser": 200},
    ),
    "book_revert_preview_of_author_event": (
        lambda w: (_book(w, f"{w['author_insert']}/revert/"), {}),
        False,
        {"book_viewer": 403, "superuser": 404},
    ),
    "book_export": (
        lambda w: (_book(w, "export/"), {}),
        False,
        {"book_viewer": 200, "superuser": 200},
    ),
    "author_export": (
        lambda w: (_author(w, "export/"), {}),
        False,
        {"book_viewer": 403, "superuser": 200},
    ),
}

# Endpoints where the superuser must see author data, so the markers are proven to be real.
SUPERUSER_SEES_AUTHORS = {
    "audit_log",
    "audit_log_partial",
    "audit_log_model_author",
    "audit_log_author_only_context",
    "audit_log_author_only_context_partial",
    "audit_log_context_filter",
    "export",
    "export_model_author",
    "export_author_only_context",
    "book_diff",
    "book_diff_partial",
    "book_insert_diff_partial",
    "author_diff",
    "author_history",
    "book_history",
    "book_compare_current",
    "book_compare_events",
    "author_compare",
    "book_revert_preview",
    "author_revert_preview",
    "author_export",
}


def expected_status(role, endpoint):
    return DENIED.get(role) or ENDPOINTS[endpoint][2][role]


def content_of(response):
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def snapshot():
    """Everything a request could write: tracked rows and events."""
    return (
        Events.objects.count(),
        list(Book.objects.order_by("pk").values()),
        list(Author.objects.order_by("pk").values()),
        Counter.objects.count(),
        Document.objects.count(),
    )


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("role", ROLES)
def test_get_endpoint(role, endpoint, world):
    client = client_for(role, world)
    path, params = ENDPOINTS[endpoint][0](world)
    htmx = ENDPOINTS[endpoint][1]
    before = snapshot()
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.get(path, params, **headers)
    body = content_of(response)
    expected = expected_status(role, endpoint)

    # A GET never writes, whoever asks (the revert preview included).
    assert snapshot() == before

    if expected == "login" and htmx:
        # htmx would swap a followed redirect's login page into the page: HX-Redirect instead.
        assert response.status_code == 200
        assert response["HX-Redirect"].startswith(LOGIN + "?next=")
        assert body == ""
    elif expected == "login":
        assert response.status_code == 302
        assert response["Location"].startswith(LOGIN + "?next=")
    else:
        assert response.status_code == expected, body[:500]

    if role == "superuser":
        if endpoint in SUPERUSER_SEES_AUTHORS:
            assert any(marker in body for marker in FORBIDDEN_FOR_BOOK_VIEWER), endpoint
        return
    # What the user typed may be echoed (the filter form keeps its values); nothing else.
    typed = " ".join(str(value) for value in params.values())
    leaked = [m for m in FORBIDDEN_FOR_BOOK_VIEWER if m in body and m not in typed]
    assert leaked == []
    if role != "book_viewer" or response.status_code != 200:
        return
    if response.streaming:
        lines = list(csv.reader(io.StringIO(body)))
        assert {line[2] for line in lines[1:]} <= {"testapp.Book"}
    elif response.context and "rows" in response.context:
        models = {row.event.pgh_obj_model for row in response.context["rows"]}
        assert models <= {"testapp.Book"}


def test_book_viewer_sees_every_book_event_and_only_those(world):
    client = client_for("book_viewer", world)
    response = client.get(AUDIT_LOG)
    expected = set(
        Events.objects.filter(pgh_obj_model="testapp.Book").values_list("pgh_id", flat=True)
    )
    assert expected
    assert {row.pgh_id for row in response.context["rows"]} == expected
    form = response.context["filter"].form
    assert [value for value, _ in form.fields["model"].choices if value] == ["testapp.book"]
    assert {value for value, _ in form.fields["action"].choices if value} == {
        "insert",
        "update",
        "delete",
        "price_changed",
    }
    # Without a chosen model, the fields come grouped by model: only Book's group.
    assert [group for group, _ in form.fields["field"].choices if group] == ["Book"]
    assert {value for _, group in form.fields["field"].choices[1:] for value, _ in group} == {
        "id",
        "title",
        "author_id",
        "price",
        "status",
        "data",
        "updated_at",
    }
    export = content_of(client.get(AUDIT_LOG + "export/"))
    lines = list(csv.reader(io.StringIO(export)))
    assert {int(line[0]) for line in lines[1:]} == expected
    # The columns are the same for everyone; the context column holds only visible events' keys.
    assert lines[0] == [*export_columns.COLUMNS, *export_columns.TRAILING]
    assert AUTHOR_ONLY_CONTEXT_KEY not in export
    context = lines[0].index("context")
    assert any("request_id" in line[context] for line in lines[1:])


def test_foreign_key_to_a_hidden_model_shows_the_raw_id(world):
    """The book viewer sees "#<id>" for the book's author, never the author's ``str()``."""
    author, other = world["author"], world["other"]
    pages = {
        "diff": (f"{AUDIT_LOG}{world['book_update']}/diff/", other),
        "initial": (f"{AUDIT_LOG}{world['book_insert']}/diff/", author),
        "timeline": (_book(world), other),
        "compare": (_book(world, "compare/") + f"?a={world['book_insert']}&b=current", other),
    }
    viewer = client_for("book_viewer", world)
    root = client_for("superuser", world)
    for name, (url, target) in pages.items():
        seen = viewer.get(url).content.decode()
        assert f'<span class="pgh-fk">#{target.pk}</span>' in seen, name
        for label in (AUTHOR_NAME, OTHER_AUTHOR_NAME, "deleted"):
            assert label not in seen, (name, label)
        # The superuser gets the labels.
        assert f"{target.name} (#{target.pk})" in root.get(url).content.decode(), name
    # Editors (change permission, no view of authors) preview reverts the same way.
    editor = get_user_model().objects.create_user("editor", password="pw", is_staff=True)
    editor = grant(editor, "testapp.change_book")
    client = Client()
    client.force_login(editor)
    preview = client.get(_book(world, f"{world['book_insert']}/revert/"))
    assert preview.status_code == 200
    html = preview.content.decode()
    assert f"#{author.pk}" in html and f"#{other.pk}" in html
    assert AUTHOR_NAME not in html and OTHER_AUTHOR_NAME not in html
    # A deleted author is not revealed as deleted either (that would tell existence).
    Book.objects.filter(pk=world["book"].pk).update(author=author)
    Author.objects.filter(pk=other.pk).delete()
    for name, (url, _target) in pages.items():
        seen = viewer.get(url).content.decode()
        assert "no longer exists" not in seen, name
        assert "pgh-deleted" not in seen, name


def test_context_panel_needs_a_visible_event(world):
    context_id = str(world["author_only_context"])
    root = client_for("superuser", world).get(AUDIT_LOG, {"context_id": context_id})
    assert AUTHOR_ONLY_CONTEXT_VALUE in root.content.decode()
    viewer = client_for("book_viewer", world)
    response = viewer.get(AUDIT_LOG, {"context_id": context_id})
    assert response.context["rows"] == []
    panel = response.context["context_panel"]
    assert panel is None or (not panel["metadata"] and panel["context"] is None)
    # A context with a visible event shows its metadata.
    book_context = str(BookEvent.objects.get(pgh_id=world["book_update"]).pgh_context_id)
    shared = viewer.get(AUDIT_LOG, {"context_id": book_context})
    assert "r-book" in shared.content.decode()


# Revert: POST with a CSRF token and the change permission, nothing else.
REVERT_STATUS = {
    "anonymous": "login",
    "non_staff": "login",
    "staff_no_perms": 403,
    "book_viewer": 403,
    "book_editor": 302,
    "superuser": 302,
}


def csrf_client(role, world):
    client = Client(enforce_csrf_checks=True)
    if role == "book_editor":
        editor = get_user_model().objects.create_user("editor", password="pw", is_staff=True)
        client.force_login(grant(editor, "testapp.change_book"))
    else:
        user = make_user(role, world)
        if user.is_authenticated:
            client.force_login(user)
    return client


def with_token(client):
    """A valid double-submit pair: the cookie's secret, sent back in the form."""
    token = get_random_string(32)
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    return {"csrfmiddlewaretoken": token}


@pytest.mark.parametrize("role", list(REVERT_STATUS))
def test_revert_post_with_csrf_token(role, world):
    client = csrf_client(role, world)
    url = _book(world, f"{world['book_insert']}/revert/")
    before = snapshot()
    response = client.post(url, with_token(client))
    expected = REVERT_STATUS[role]
    if expected == "login":
        assert response.status_code == 302
        assert response["Location"].startswith(LOGIN + "?next=")
    else:
        assert response.status_code == expected
    book = Book.objects.get(pk=world["book"].pk)
    if expected == 302 and role != "anonymous" and role != "non_staff":
        assert response["Location"] == _book(world)
        assert (book.author_id, str(book.price)) == (world["author"].pk, "9.99")
        assert Events.objects.count() > before[0]
    else:
        assert snapshot() == before


@pytest.mark.parametrize("role", list(REVERT_STATUS))
@pytest.mark.parametrize("token", ["missing", "wrong", "cookie_only"])
def test_revert_post_without_a_valid_csrf_token_is_refused(role, token, world):
    client = csrf_client(role, world)
    data = {}
    if token == "wrong":
        with_token(client)
        data = {"csrfmiddlewaretoken": get_random_string(32)}
    elif token == "cookie_only":
        with_token(client)
    before = snapshot()
    response = client.post(_book(world, f"{world['book_insert']}/revert/"), data)
    assert response.status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize("role", ["book_viewer", "book_editor", "superuser"])
def test_revert_of_another_models_event_or_object_is_refused(role, world):
    client = csrf_client(role, world)
    data = with_token(client)
    before = snapshot()
    # The author's event through the book's URL, and the author's own revert URL.
    wrong_event = client.post(_book(world, f"{world['author_insert']}/revert/"), data)
    author_url = client.post(_author(world, f"{world['author_insert']}/revert/"), data)
    assert wrong_event.status_code == (404 if role != "book_viewer" else 403)
    assert author_url.status_code == (302 if role == "superuser" else 403)
    if role != "superuser":
        assert snapshot() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete", "options", "head"])
def test_revert_url_other_methods_never_write(method, world):
    client = csrf_client("superuser", world)
    data = with_token(client)
    before = snapshot()
    response = getattr(client, method)(_book(world, f"{world['book_insert']}/revert/"), data)
    assert response.status_code in (200, 403, 405)
    assert snapshot() == before


@pytest.mark.parametrize(
    "params",
    [
        {"confirm": "yes"},
        {"post": "yes", "csrfmiddlewaretoken": "x"},
        {"_method": "POST"},
    ],
)
def test_revert_get_with_confirm_like_parameters_never_writes(params, world):
    client = csrf_client("superuser", world)
    before = snapshot()
    response = client.get(_book(world, f"{world['book_insert']}/revert/"), params)
    assert response.status_code == 200
    assert snapshot() == before
    # HEAD and a GET as htmx neither.
    client.get(_book(world, f"{world['book_insert']}/revert/"), params, HTTP_HX_REQUEST="true")
    assert snapshot() == before


def test_inactive_superuser_is_sent_to_login(world):
    root = world["root"]
    root.is_active = False
    root.save()
    client = Client()
    client.force_login(root)
    for name, (build, _htmx, _expected) in ENDPOINTS.items():
        path, params = build(world)
        response = client.get(path, params)
        # force_login of an inactive user leaves the session anonymous under ModelBackend.
        assert response.status_code == 302, name
        assert response["Location"].startswith(LOGIN), name
