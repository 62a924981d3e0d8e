"""Fuzzing every history endpoint of the admin with hostile input (hypothesis).

Query strings (unknown and repeated parameters, invalid dates, huge and negative numbers, NUL
bytes, lone surrogates, SQL and template injection, forged cursors), object ids in the URL path
and garbage POSTs to the revert view, as a superuser and as a limited staff user. Whatever comes
in: no server error (the test client re-raises it), no database error (the test's transaction
still works afterwards: a failed statement would have aborted it), a fixed bound on the queries
of a request, nothing written by a GET, and invalid filters answered by a form error and no rows,
never by the unfiltered log.

The example counts are a fraction of the hypothesis profile's (default 200, nightly 2000), so
each test stays well under a minute by default and grows with ``nox -s nightly``.
"""

import csv
import io
import re
import uuid
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, currently_in_test_context, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import pghistory_core
from pghistory_admin.filters import EventFilterSet
from pghistory_admin.pagination import MAX_ID
from pghistory_core.models import Events
from tests.admin.helpers import grant
from tests.testapp.models import Author, AuthorEvent, Book, BookEvent, Code, Counter, Document

pytestmark = pytest.mark.django_db

AUDIT_LOG = "/admin/pghistory_admin/auditlog/"


def examples(share):
    """``share`` of the active profile's examples (at least 10)."""
    return max(10, int(hypothesis_settings.default.max_examples * share))


def fuzz(share):
    return hypothesis_settings(
        max_examples=examples(share),
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        deadline=None,
    )


# Queries of a request, at most: session and user (2), the limited user's permissions (2), one
# page of events (1), its users (1), the object labels of each tracked model on the page (5 here)
# or the foreign key labels of a timeline, the user filter's lookup (1) and the context panel's
# (2). The superuser's worst case is 12 and the limited user's 9. The bound is fixed: it does not
# depend on the history's size (see the last test) or on what the query string holds.
MAX_QUERIES = 19  # 14, and 5 for the statement timeout in the test transaction (savepoint)
# An export: session, user, permissions, the user filter's lookup, the "changed field" filter's
# search for the events that changed the field, then ids and rows of each chunk (one chunk
# here), each step in a savepoint with its statement timeout set and put back (4 queries more
# each in the test's transaction).
MAX_EXPORT_QUERIES = 21

HOSTILE = [
    "",
    " ",
    "0",
    "-1",
    "-9223372036854775809",
    "9223372036854775807",
    "9223372036854775808",
    "9" * 400,
    "1e309",
    "NaN",
    "Infinity",
    "1.5",
    "0x10",
    "\u0661\u0662",  # Arabic-Indic digits
    "\uff11",  # full-width 1
    "\u00b2",  # superscript two
    "2024-02-30",
    "2024-13-01",
    "0000-00-00",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "-2024-01-01",
    "2024-01-01T25:00:00",
    "yesterday",
    "' OR 1=1 --",
    "'; DROP TABLE auth_user; --",
    '" OR ""="',
    "1) UNION SELECT password FROM auth_user --",
    "%",
    "_",
    "\\",
    "$$; SELECT 1; $$",
    "E'\\x00'",
    "{{ 7|add:42 }}",
    "{% debug %}",
    "{{ settings.SECRET_KEY }}",
    "${7*7}",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "\x00",
    "a\x00b",
    "_2F",  # the admin's quoting of "/"
    "a_5Fb",
    "_00",
    "\ud800",
    "x\udfffy",
    "\u202e",
    "\ufeff",
    "\U0001f984",
    "\r\n",
    "\t",
    "k=v",
    "user=1",
    'k="a b"',
    'k="unclosed',
    "=v",
    "k=" + "x" * 300,
    " ".join(f"k{i}=v" for i in range(20)),
    "url=/setup/",
    "00000000-0000-0000-0000-000000000000",
    "not-a-uuid",
    "current",
    "testapp.book",
    "testapp.author",
    "testapp.Book",
    "auth.user",
    "pghistory_core.context",
    "insert",
    "update",
    "price",
    "email",
    "root",
    "-time",
    "time",
]

KEYS = [
    "model",
    "action",
    "user",
    "since",
    "until",
    "object",
    "field",
    "context",
    "context_id",
    "before",
    "after",
    "sort",
    "page",
    "a",
    "b",
    "o",
    "q",
    "p",
    "format",
    "_changelist_filters",
    "csrfmiddlewaretoken",
]

# Any text: lone surrogates and NUL included (sent percent-encoded, see ``query``).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
numbers = st.integers(min_value=-(2**70), max_value=2**70).map(str)
values = st.one_of(st.sampled_from(HOSTILE), any_text, numbers, st.uuids().map(str))
keys = st.one_of(st.sampled_from(KEYS), any_text)
# Repeated parameters are allowed: a list of pairs, not a dict.
params = st.lists(st.tuples(keys, values), max_size=8)


def encode(text):
    """Percent-encoding of any ``str``; lone surrogates go as their (invalid) UTF-8 bytes."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def query(pairs):
    return "&".join(f"{encode(key)}={encode(value)}" for key, value in pairs)


def assert_database_healthy():
    """A database error inside the request, even caught, aborts the test's transaction."""
    assert not connection.needs_rollback
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def body_of(response):
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def fetch(client, url, *, htmx=False, max_queries=MAX_QUERIES, statuses=(200, 404)):
    """GET ``url`` and check what holds for every request; returns (response, body)."""
    if currently_in_test_context():
        note(url)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    before = Events.objects.count()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
        body = body_of(response)  # streaming responses run their queries here
    assert len(queries) <= max_queries, [q["sql"][:200] for q in queries]
    assert_database_healthy()
    assert Events.objects.count() == before
    assert response.status_code in statuses, response.status_code
    # Input is never evaluated as a template, nor echoed unescaped.
    assert settings.SECRET_KEY not in body
    assert "<script>alert(1)</script>" not in body
    assert "<img src=x" not in body
    return response, body


@pytest.fixture
def world(db):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    with pghistory_core.context(user=root.pk, url="/setup/", request_id="r1"):
        author = Author.objects.create(name="Ursula", email="u@example.com")
        book = Book.objects.create(title="The Dispossessed", author=author, price="9.99")
    for index in range(3):
        with pghistory_core.context(user=root.pk, url=f"/edit/{index}/"):
            Book.objects.filter(pk=book.pk).update(title=f"Title {index}", price=index + 10)
    with pghistory_core.context(command="seed"):
        Author.objects.filter(pk=author.pk).update(email="new@example.com")
    Code.objects.create(code="abc", value=1)
    Counter.objects.create(value=2)
    Document.objects.create(body="text")
    limited = get_user_model().objects.create_user("limited", password="pw", is_staff=True)
    limited = grant(limited, "testapp.view_book", "testapp.change_book")
    clients = {}
    for name, user in (("superuser", root), ("limited", limited)):
        clients[name] = Client()
        clients[name].force_login(user)
    return {
        "root": root,
        "author": author,
        "book": book,
        "clients": clients,
        "book_insert": BookEvent.objects.filter(pgh_label="insert").get().pgh_id,
        "author_insert": AuthorEvent.objects.filter(pgh_label="insert").get().pgh_id,
        "visible": {
            "superuser": set(Events.objects.values_list("pgh_id", flat=True)),
            "limited": set(
                Events.objects.filter(pgh_obj_model="testapp.Book").values_list("pgh_id", flat=True)
            ),
        },
    }


ROLES = st.sampled_from(["superuser", "limited"])
FILTER_NAMES = set(EventFilterSet.base_filters)


def check_audit_log(response, body, pairs, world, role):
    """Rows only of visible events; an invalid filter or cursor gives an error and no rows."""
    ids = {row.pgh_id for row in response.context["rows"]}
    assert ids <= world["visible"][role]
    form = response.context["filter"].form
    if form.errors:
        assert ids == set()
        assert "These filters are not valid:" in body
        # Only parameters that were sent can be wrong.
        sent = {key for key, _value in pairs}
        assert set(form.errors) - {"__all__"} <= sent
    if response.context["cursor_error"]:
        assert ids == set()
        assert "This page link is not valid." in body


@pytest.mark.stress
@fuzz(0.25)
@given(role=ROLES, pairs=params, htmx=st.booleans())
def test_audit_log_survives_any_query_string(world, role, pairs, htmx):
    url = f"{AUDIT_LOG}?{query(pairs)}"
    response, body = fetch(world["clients"][role], url, htmx=htmx)
    assert response.status_code == 200
    check_audit_log(response, body, pairs, world, role)
    if htmx:
        assert "<html" not in body


@pytest.mark.stress
@fuzz(0.15)
@given(
    role=ROLES,
    filter_name=st.sampled_from(sorted(FILTER_NAMES)),
    value=values,
    extra=params,
)
def test_each_filter_with_hostile_values(world, role, filter_name, value, extra):
    pairs = [(filter_name, value), *extra]
    response, body = fetch(world["clients"][role], f"{AUDIT_LOG}?{query(pairs)}")
    check_audit_log(response, body, pairs, world, role)


not_a_date = st.one_of(
    st.sampled_from(["2024-02-30", "2024-13-01", "0000-00-00", "10000-01-01", "tomorrow"]),
    st.text(st.characters(codec=None), min_size=1, max_size=20).filter(
        lambda text: (
            not re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*|\s*\d{1,2}/\d{1,2}/\d{2,4}\s*", text)
        )
    ),
)


@pytest.mark.stress
@fuzz(0.1)
@given(role=ROLES, name=st.sampled_from(["since", "until"]), value=not_a_date)
def test_invalid_dates_are_form_errors_not_full_results(world, role, name, value):
    response, body = fetch(world["clients"][role], f"{AUDIT_LOG}?{query([(name, value)])}")
    if value.strip() == "":
        return  # an empty field is no filter
    form = response.context["filter"].form
    assert name in form.errors
    assert response.context["rows"] == []
    assert "These filters are not valid:" in body


bad_cursor = st.one_of(
    st.sampled_from(["0", "-1", str(MAX_ID + 1), "1e3", "1.0", "\uff11", " ", "abc", "9" * 30]),
    st.integers(max_value=0).map(str),
    st.integers(min_value=MAX_ID + 1).map(str),
    st.text(st.characters(codec=None), min_size=1, max_size=10).filter(
        lambda text: not (text.strip().isascii() and text.strip().isdigit())
    ),
)


@pytest.mark.stress
@fuzz(0.1)
@given(
    role=ROLES,
    name=st.sampled_from(["before", "after"]),
    value=bad_cursor,
    url=st.sampled_from(["audit", "timeline"]),
)
def test_forged_cursors_give_an_error_and_no_rows(world, role, name, value, url):
    if not value.strip():
        return
    path = AUDIT_LOG if url == "audit" else f"/admin/testapp/book/{world['book'].pk}/history/"
    response, body = fetch(world["clients"][role], f"{path}?{query([(name, value)])}")
    assert response.context["cursor_error"]
    assert response.context["rows"] == []
    assert "This page link is not valid." in body


@pytest.mark.stress
@fuzz(0.1)
@given(role=ROLES, before=st.integers(min_value=1, max_value=MAX_ID), after=st.booleans())
def test_valid_cursors_of_hidden_events_show_only_visible_ones(world, role, before, after):
    # A cursor may be the id of an event the user cannot see (or of none): it only bounds pgh_id.
    key = "after" if after else "before"
    response, _body = fetch(world["clients"][role], f"{AUDIT_LOG}?{key}={before}")
    ids = {row.pgh_id for row in response.context["rows"]}
    assert ids <= world["visible"][role]
    expected = {i for i in world["visible"][role] if (i > before if after else i < before)}
    assert ids == expected


@pytest.mark.stress
@fuzz(0.15)
@given(role=ROLES, pairs=params)
def test_exports_survive_any_query_string(world, role, pairs):
    url = f"{AUDIT_LOG}export/?{query(pairs)}"
    response, body = fetch(
        world["clients"][role], url, max_queries=MAX_EXPORT_QUERIES, statuses=(200, 400)
    )
    if response.status_code == 400:
        # Invalid filters: the page with their errors, never a header-only download.
        assert response.context["filter"].errors
        assert "The export was not started" in body
    else:
        lines = list(csv.reader(io.StringIO(body)))
        assert lines[0][:3] == ["pgh_id", "created_at", "model"]
        assert {int(line[0]) for line in lines[1:]} <= world["visible"][role]
    # The per-object export takes no parameters: they are ignored.
    book_export = f"/admin/testapp/book/{world['book'].pk}/history/export/?{query(pairs)}"
    response, body = fetch(world["clients"][role], book_export, max_queries=MAX_EXPORT_QUERIES)
    book_ids = {int(line[0]) for line in list(csv.reader(io.StringIO(body)))[1:]}
    assert book_ids == set(Events.objects.tracks(world["book"]).values_list("pgh_id", flat=True))


@pytest.mark.stress
@fuzz(0.1)
@given(role=ROLES, pgh_id=st.integers(min_value=0, max_value=10**30), htmx=st.booleans())
def test_row_diff_of_any_id(world, role, pgh_id, htmx):
    response, _body = fetch(world["clients"][role], f"{AUDIT_LOG}{pgh_id}/diff/", htmx=htmx)
    if pgh_id in world["visible"][role]:
        assert response.status_code == 200
    else:
        assert response.status_code == 404


@pytest.mark.stress
@fuzz(0.15)
@given(
    role=ROLES,
    page=st.sampled_from(["history", "compare", "revert", "export"]),
    pairs=params,
    htmx=st.booleans(),
)
def test_object_pages_survive_any_query_string(world, role, page, pairs, htmx):
    base = f"/admin/testapp/book/{world['book'].pk}/history/"
    path = {
        "history": base,
        "compare": base + "compare/",
        "revert": f"{base}{world['book_insert']}/revert/",
        "export": base + "export/",
    }[page]
    limit = MAX_EXPORT_QUERIES if page == "export" else MAX_QUERIES
    response, _body = fetch(
        world["clients"][role], f"{path}?{query(pairs)}", htmx=htmx, max_queries=limit
    )
    assert response.status_code == 200
    if page == "history":
        ids = {row.pgh_id for row in response.context["rows"]}
        assert ids <= set(Events.objects.tracks(world["book"]).values_list("pgh_id", flat=True))


@pytest.mark.stress
@fuzz(0.15)
@given(role=ROLES, a=values, b=values, extra=params)
def test_compare_with_any_versions(world, role, a, b, extra):
    book_ids = set(Events.objects.tracks(world["book"]).values_list("pgh_id", flat=True))
    pairs = [("a", a), ("b", b), *extra]
    url = f"/admin/testapp/book/{world['book'].pk}/history/compare/?{query(pairs)}"
    response, body = fetch(world["clients"][role], url)
    assert response.status_code == 200
    form = response.context["form"]
    if form.is_valid() and not form.errors:
        # Only events of this book are ever compared.
        assert response.context["left"].pgh_id in book_ids
    else:
        assert "These versions cannot be compared:" in body
        assert response.context["changes"] is None


short_text = st.text(st.characters(codec=None), max_size=8)
object_ids = st.one_of(
    st.sampled_from(HOSTILE),
    any_text.filter(bool),
    numbers,
    st.uuids().map(str),
    # NUL, which Postgres text cannot hold.
    st.builds(lambda a, b: a + "\x00" + b, short_text, short_text),
    # Other admin-quoted characters: "/" "_" ":" and a broken escape.
    st.builds(lambda a, q: a + q, short_text, st.sampled_from(["_2F", "_5F", "_3A", "_", "_ZZ"])),
)


@pytest.mark.parametrize("model", ["book", "author", "code", "counter", "document"])
@pytest.mark.stress
@fuzz(0.1)
@given(
    role=ROLES,
    object_id=object_ids,
    page=st.sampled_from(["", "compare/?a=1&b=current", "export/", "1/revert/"]),
)
def test_any_object_id_in_the_path(world, model, role, object_id, page):
    encoded = encode(object_id)
    if encoded in ("", ".", ".."):
        return  # not an object id segment (the URL means something else)
    url = f"/admin/testapp/{model}/{encoded}/history/{page}"
    note(url)
    before = Events.objects.count()
    with CaptureQueriesContext(connection) as queries:
        response = world["clients"][role].get(url)
        body = body_of(response)
    assert len(queries) <= MAX_QUERIES
    # The id is echoed (request.path in links and hx-get): escaped.
    assert "<script>alert(1)</script>" not in body
    assert "<img src=x" not in body
    assert_database_healthy()
    assert Events.objects.count() == before
    # 404 for ids the model cannot have or events it does not have, 403 for other models,
    # 302 when the admin's catch-all sends an unknown URL to the change page.
    assert response.status_code in (200, 302, 403, 404)
    if role == "limited" and model != "book":
        assert response.status_code in (302, 403, 404)


@pytest.mark.parametrize("object_id", ["a%00b", "%00", "%00%00"])
@pytest.mark.parametrize("page", ["", "compare/?a=1&b=current", "export/", "1/revert/"])
def test_nul_in_a_char_primary_key_is_404(world, object_id, page):
    """Regression: a NUL reached Postgres through ``get_object`` and raised DataError (500)."""
    response = world["clients"]["superuser"].get(f"/admin/testapp/code/{object_id}/history/{page}")
    assert response.status_code == 404
    assert_database_healthy()
    # The audit log's object filter says so as a form error.
    response = world["clients"]["superuser"].get(
        AUDIT_LOG, {"model": "testapp.code", "object": "a\x00b"}
    )
    assert "object" in response.context["filter"].form.errors
    assert_database_healthy()


@pytest.mark.stress
@fuzz(0.1)
@given(
    role=ROLES,
    pgh_id=st.integers(min_value=0, max_value=10**25),
    object_id=st.one_of(st.just("book"), numbers),
)
def test_revert_preview_of_any_event(world, role, pgh_id, object_id):
    book = world["book"]
    oid = book.pk if object_id == "book" else object_id
    before = (Events.objects.count(), list(Book.objects.values()))
    response = world["clients"][role].get(
        f"/admin/testapp/book/{encode(str(oid))}/history/{pgh_id}/revert/"
    )
    assert_database_healthy()
    assert (Events.objects.count(), list(Book.objects.values())) == before
    book_ids = set(Events.objects.tracks(book).values_list("pgh_id", flat=True))
    if object_id == "book" and pgh_id in book_ids:
        assert response.status_code == 200
    else:
        assert response.status_code in (403, 404)


# POST bodies: form fields, or raw bytes of any content type.
post_fields = st.dictionaries(keys, values, max_size=6)
raw_bodies = st.tuples(
    st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "multipart/form-data",
            "application/octet-stream",
        ]
    ),
    st.binary(max_size=300),
)


def post(client, url, body):
    if isinstance(body, dict):
        safe = {
            key.encode("utf-8", "surrogatepass").decode("utf-8", "replace"): value.encode(
                "utf-8", "surrogatepass"
            ).decode("utf-8", "replace")
            for key, value in body.items()
        }
        return client.post(url, safe)
    content_type, data = body
    return client.post(url, data, content_type=content_type)


@pytest.mark.stress
@fuzz(0.1)
@given(body=st.one_of(post_fields, raw_bodies))
def test_revert_post_garbage_without_csrf_token_changes_nothing(world, body):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["root"])
    url = f"/admin/testapp/book/{world['book'].pk}/history/{world['book_insert']}/revert/"
    before = (Events.objects.count(), list(Book.objects.values()))
    response = post(client, url, body)
    assert response.status_code == 403
    assert_database_healthy()
    assert (Events.objects.count(), list(Book.objects.values())) == before


@pytest.mark.stress
@fuzz(0.1)
@given(body=st.one_of(post_fields, raw_bodies), event=st.sampled_from(["book", "author"]))
def test_revert_post_garbage_reverts_to_exactly_the_event(world, body, event):
    """The body is never read: a revert writes the event's values and nothing else."""
    client = world["clients"]["superuser"]  # no CSRF enforcement: the body reaches the view
    book = world["book"]
    pgh_id = world["book_insert"] if event == "book" else world["author_insert"]
    Book.objects.filter(pk=book.pk).update(title="Changed", price="1.00")
    authors = list(Author.objects.values())
    response = post(client, f"/admin/testapp/book/{book.pk}/history/{pgh_id}/revert/", body)
    assert_database_healthy()
    assert list(Author.objects.values()) == authors
    book.refresh_from_db()
    if event == "book":
        assert response.status_code == 302
        assert (book.title, str(book.price)) == ("The Dispossessed", "9.99")
    else:
        assert response.status_code == 404
        assert (book.title, str(book.price)) == ("Changed", "1.00")


@pytest.mark.stress
@fuzz(0.1)
@given(
    role=ROLES,
    pgh_id=st.integers(min_value=0, max_value=10**25),
    object_id=object_ids,
    body=post_fields,
)
def test_revert_post_to_any_url_never_fails(world, role, pgh_id, object_id, body):
    encoded = encode(object_id)
    if encoded in ("", ".", ".."):
        return
    url = f"/admin/testapp/author/{encoded}/history/{pgh_id}/revert/"
    authors = list(Author.objects.values())
    response = post(world["clients"][role], url, body)
    assert_database_healthy()
    assert response.status_code in (302, 400, 403, 404)
    if role == "limited":
        assert response.status_code in (403, 404)
        assert list(Author.objects.values()) == authors


def test_query_bound_holds_for_a_big_history(world):
    """The bound above is not an artefact of a small history: 300 more events cost nothing."""
    book = world["book"]
    for index in range(100):
        with pghistory_core.context(
            user=world["root"].pk, url=f"/bulk/{index}", k=str(uuid.uuid4())
        ):
            Book.objects.filter(pk=book.pk).update(title=f"Bulk {index}")
            Author.objects.filter(pk=world["author"].pk).update(email=f"{index}@example.com")
            Counter.objects.update(value=index)
    for role in ("superuser", "limited"):
        client = world["clients"][role]
        for url in (
            AUDIT_LOG,
            f"{AUDIT_LOG}?user=root&field=title&since=2000-01-01&context=k=v",
            f"{AUDIT_LOG}?context_id={uuid.uuid4()}",
            f"/admin/testapp/book/{book.pk}/history/",
            f"/admin/testapp/book/{book.pk}/history/compare/?a={world['book_insert']}&b=current",
            f"/admin/testapp/book/{book.pk}/history/{world['book_insert']}/revert/",
        ):
            fetch(client, url)
