"""Secrets: fields named by ``PGHISTORY_ADMIN_SECRET_FIELDS`` never show their values.

Masked everywhere the admin shows values: the audit log and its row diffs, timelines, compare,
revert preview, the request view, and both CSV paths (``csv_rows`` and the ``COPY`` export the
views stream). That such a field changed stays visible (the changes column, the field filter);
what it held does not. Text, JSON and foreign key fields are covered, since each has its own
rendering (word diff, key-by-key diff, target label).

Fields left out of tracking (``track(fields=[...])`` / ``exclude=[...]``) never reach the event
table, so nothing of them can show.
"""

import csv
import io
import json

import pytest
from django.contrib.admin.utils import quote
from django.db import connection

import pghistory_core
from pghistory_admin.conf import MASK
from pghistory_core.models import Events
from tests.admin.export_oracle import csv_rows
from tests.testapp.models import Author, Book, BookPriceEvent, Document

pytestmark = pytest.mark.django_db

AUDIT_LOG = "/admin/pghistory_admin/auditlog/"

SECRET_FIELDS = [
    "testapp.author.email",  # qualified
    "body",  # a bare field name (Document.body, long text)
    "testapp.book.data",  # JSON
    "testapp.book.author",  # a foreign key: neither id nor label
]
EMAIL_OLD = "old-secret-mail@hidden.example"
EMAIL_NEW = "new-secret-mail@hidden.example"
BODY_OLD = "Paragraph one TOPSECRET-BODY-ONE.\n" + "filler " * 20
BODY_NEW = BODY_OLD + "\nParagraph two TOPSECRET-BODY-TWO."
DATA_OLD = {"apikey": "SECRET-JSON-VALUE-1"}
DATA_NEW = {"apikey": "SECRET-JSON-VALUE-2", "more": "SECRET-JSON-ADDED"}
WRITER_NAME = "Secret-Writer-Name"
SECRETS = [
    EMAIL_OLD,
    EMAIL_NEW,
    "TOPSECRET-BODY-ONE",
    "TOPSECRET-BODY-TWO",
    "SECRET-JSON-VALUE-1",
    "SECRET-JSON-VALUE-2",
    "SECRET-JSON-ADDED",
]


@pytest.fixture
def secrets(settings, superuser):
    settings.PGHISTORY_ADMIN_SECRET_FIELDS = SECRET_FIELDS
    with pghistory_core.context(user=superuser.pk, url="/create/"):
        author = Author.objects.create(name="Ursula", email=EMAIL_OLD)
        writer = Author.objects.create(name=WRITER_NAME)
        book = Book.objects.create(title="Plain title", author=author, price="1.00", data=DATA_OLD)
        document = Document.objects.create(body=BODY_OLD)
    with pghistory_core.context(user=superuser.pk, url="/edit/", request_id="r1"):
        Author.objects.filter(pk=author.pk).update(email=EMAIL_NEW)
        Book.objects.filter(pk=book.pk).update(data=DATA_NEW, author=writer, price="2.00")
        Document.objects.filter(pk=document.pk).update(body=BODY_NEW)
    return {"author": author, "writer": writer, "book": book, "document": document}


def objects(world):
    return [
        ("author", world["author"].pk),
        ("book", world["book"].pk),
        ("document", quote(world["document"].pk)),
    ]


def pages(world):
    """Every page and partial showing values: (name, url, htmx, whether it must show a mask)."""
    result = [
        ("audit log", AUDIT_LOG, False, False),
        ("audit log partial", AUDIT_LOG, True, False),
        ("field filter", AUDIT_LOG + "?field=email", False, False),
    ]
    for context_id in {e.pgh_context_id for e in Events.objects.all()}:
        result.append(("request view", f"{AUDIT_LOG}?context_id={context_id}", False, False))
    secret_models = {"testapp.Author", "testapp.Book", "testapp.Document"}
    for event in Events.objects.all():
        url = f"{AUDIT_LOG}{event.pgh_id}/diff/"
        masked = (
            event.pgh_obj_model in secret_models and event.pgh_model != "testapp.BookPriceEvent"
        )
        model = event.pgh_obj_model.split(".")[1].lower()
        result.append((f"diff {model} {event.pgh_id}", url, False, masked))
        result.append((f"diff partial {model} {event.pgh_id}", url, True, masked))
    for model, pk in objects(world):
        base = f"/admin/testapp/{model}/{pk}/history/"
        ids = sorted(
            Events.objects.filter(pgh_obj_model=f"testapp.{model.capitalize()}")
            .exclude(pgh_model="testapp.BookPriceEvent")
            .values_list("pgh_id", flat=True)
        )
        result += [
            (f"{model} timeline", base, False, True),
            (f"{model} timeline partial", base + "?before=999999999", True, True),
            (f"{model} compare current", f"{base}compare/?a={ids[0]}&b=current", False, True),
            (f"{model} compare events", f"{base}compare/?a={ids[0]}&b={ids[-1]}", False, True),
            (f"{model} revert preview", f"{base}{ids[0]}/revert/", False, True),
        ]
    return result


def test_secret_values_never_show_on_any_page(root_client, secrets):
    for name, url, htmx, masked in pages(secrets):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        response = root_client.get(url, **headers)
        assert response.status_code == 200, (name, url)
        body = response.content.decode()
        shown = [secret for secret in SECRETS if secret in body]
        assert shown == [], name
        if masked:
            assert MASK in body, name
        if name.startswith(("book", "diff book", "diff partial book")):
            # The foreign key is secret: neither its target's label nor its id.
            assert WRITER_NAME not in body, name
            assert f"#{secrets['writer'].pk}" not in body, name


def test_changed_secret_fields_are_named_not_shown(root_client, secrets):
    response = root_client.get(AUDIT_LOG, {"field": "email"})
    rows = response.context["rows"]
    assert [row.event.pgh_obj_model for row in rows] == ["testapp.Author"]
    assert rows[0].changed_fields == ["Email"]
    diff = root_client.get(f"{AUDIT_LOG}{rows[0].pgh_id}/diff/", HTTP_HX_REQUEST="true")
    change = {c.name: c for c in diff.context["row"].changes}["email"]
    assert (change.kind, MASK in change.old, MASK in change.new) == ("secret", True, True)
    # The other fields of the same model are shown.
    author = secrets["author"]
    first = Events.objects.tracks(author).order_by("pgh_id").first()
    initial = root_client.get(f"{AUDIT_LOG}{first.pgh_id}/diff/").content.decode()
    assert "Ursula" in initial


def test_without_the_setting_the_values_show(root_client, secrets, settings):
    """The positive control: the pages above do show these values when not configured secret."""
    settings.PGHISTORY_ADMIN_SECRET_FIELDS = []
    seen = set()
    for _name, url, htmx, _masked in pages(secrets):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        body = root_client.get(url, **headers).content.decode()
        seen |= {secret for secret in SECRETS if secret in body}
        if WRITER_NAME in body:
            seen.add(WRITER_NAME)
    assert seen == {*SECRETS, WRITER_NAME}


def csv_of(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))


def assert_masked_csv(rows):
    header, *body = rows
    text = json.dumps(rows, ensure_ascii=False)
    assert [secret for secret in SECRETS if secret in text] == []
    data_column, diff_column = header.index("data"), header.index("diff")
    masked = 0
    for row in body:
        data = json.loads(row[data_column])
        diff = json.loads(row[diff_column]) if row[diff_column] else {}
        for key in ("email", "body", "data", "author_id"):
            if key in data and (row[2], key) in {
                ("testapp.Author", "email"),
                ("testapp.Document", "body"),
                ("testapp.Book", "data"),
                ("testapp.Book", "author_id"),
            }:
                assert data[key] == MASK, (row[2], key, data)
                masked += 1
            if key in diff and row[2] in ("testapp.Author", "testapp.Book", "testapp.Document"):
                # The change is listed, its values are not.
                assert diff[key] == [MASK, MASK], (row[2], key, diff)
    return masked


def test_csv_rows_mask_secrets(secrets):
    # Emails of 3 author events, data and author of 2 book events, bodies of 2 document events.
    assert assert_masked_csv([list(row) for row in csv_rows(Events.objects.all())]) == 9


def test_copy_export_masks_secrets(root_client, secrets):
    assert assert_masked_csv(csv_of(root_client.get(AUDIT_LOG + "export/"))) == 9
    for (model, pk), expected in zip(objects(secrets), (2, 4, 2), strict=True):
        rows = csv_of(root_client.get(f"/admin/testapp/{model}/{pk}/history/export/"))
        assert assert_masked_csv(rows) == expected, model


def test_secrets_are_still_reverted(root_client, secrets):
    """Masking is display only: a revert writes the real values back."""
    author = secrets["author"]
    first = Events.objects.tracks(author).order_by("pgh_id").first()
    response = root_client.post(f"/admin/testapp/author/{author.pk}/history/{first.pgh_id}/revert/")
    assert response.status_code == 302
    author.refresh_from_db()
    assert author.email == EMAIL_OLD


# Fields left out of tracking -------------------------------------------------------------------

UNTRACKED_TITLE = "Untracked-Title-Value"


def event_columns(model):
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, model._meta.db_table)
    return {column.name for column in description}


def test_fields_outside_fields_are_not_columns_of_the_event_table():
    """``track(fields=["price"])``: BookPriceEvent's table holds price and nothing else of Book."""
    columns = event_columns(BookPriceEvent)
    assert "price" in columns
    assert not {"book_title", "title", "author_id", "status", "data", "updated_at"} & columns
    assert {f.name for f in BookPriceEvent._meta.fields if not f.name.startswith("pgh_")} == {
        "price"
    }
    assert BookPriceEvent.pgh_tracked_fields == ["price"]


def test_exclude_removes_the_field_from_the_event_model():
    event_model = pghistory_core.create_event_model(
        Author, exclude=["email"], model_name="AuthorWithoutEmailEvent"
    )
    names = {f.name for f in event_model._meta.fields}
    assert "name" in names
    assert "email" not in names
    assert "email" not in event_model.pgh_tracked_fields
    only = pghistory_core.create_event_model(Author, fields=["name"], model_name="AuthorNameEvent")
    assert "email" not in {f.name for f in only._meta.fields}


def test_the_admin_shows_nothing_of_an_untracked_field(root_client, book):
    # One statement changes the price and the title: BookPriceEvent records the price only.
    Book.objects.filter(pk=book.pk).update(price="5.00", title=UNTRACKED_TITLE)
    Book.objects.filter(pk=book.pk).update(title="Plain again")
    price_event = BookPriceEvent.objects.get()
    assert UNTRACKED_TITLE not in json.dumps(Events.objects.get(pgh_id=price_event.pgh_id).pgh_data)
    pages = [
        f"{AUDIT_LOG}{price_event.pgh_id}/diff/",
        f"{AUDIT_LOG}?action=price_changed",
        f"/admin/testapp/book/{book.pk}/history/compare/?a={price_event.pgh_id}&b=current",
    ]
    for url in pages:
        body = root_client.get(url).content.decode()
        assert UNTRACKED_TITLE not in body, url
    diff = root_client.get(f"{AUDIT_LOG}{price_event.pgh_id}/diff/")
    assert [change.name for change in diff.context["row"].changes] == ["price"]
    export = csv_of(root_client.get(AUDIT_LOG + "export/", {"action": "price_changed"}))
    assert len(export) == 2
    assert UNTRACKED_TITLE not in json.dumps(export)
    # BookEvent tracks every field: the full export has the title (the check above can fail).
    assert UNTRACKED_TITLE in json.dumps(csv_of(root_client.get(AUDIT_LOG + "export/")))


# --- context metadata under a secret key -----------------------------------------------------

CONTEXT_SECRET = "ctx-SECRET-api-token-value"


@pytest.fixture
def secret_context(superuser):
    with pghistory_core.context(user=superuser.pk, url="/login/", api_token=CONTEXT_SECRET) as ctx:
        Author.objects.create(name="Ursula")
    return ctx


def test_context_values_under_a_secret_key_are_masked_in_the_request_view(
    root_client, secret_context
):
    response = root_client.get(f"{AUDIT_LOG}?context_id={secret_context.id}")
    page = response.content.decode()
    assert response.status_code == 200
    assert "api_token" in page
    assert MASK in page
    assert CONTEXT_SECRET not in page
    assert "/login/" in page  # other keys still show


def test_context_values_under_a_secret_key_are_masked_in_both_exports(root_client, secret_context):
    python_rows = list(csv_rows(Events.objects.all()))
    column = python_rows[0].index("context")
    assert [json.loads(row[column]) for row in python_rows[1:]] == [{"api_token": MASK}]
    response = root_client.get(AUDIT_LOG + "export/")
    body = b"".join(response.streaming_content).decode()
    assert CONTEXT_SECRET not in body
    copy_rows = list(csv.reader(io.StringIO(body)))
    column = copy_rows[0].index("context")
    assert [json.loads(row[column]) for row in copy_rows[1:]] == [{"api_token": MASK}]


def test_a_secret_context_key_cannot_be_filtered_on(root_client, secret_context):
    # A filter would answer "is the token X?" one guess at a time.
    response = root_client.get(AUDIT_LOG, {"context": f"api_token={CONTEXT_SECRET}"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "holds secrets" in page
    assert "Ursula" not in page
    ok = root_client.get(AUDIT_LOG, {"context": "url=/login/"})
    assert "Ursula" in ok.content.decode()
