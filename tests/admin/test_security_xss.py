"""Stored XSS and CSV injection: hostile text recorded in the history stays inert everywhere.

Tracked values, object labels, context metadata (URL, user, command, arbitrary keys and values),
usernames, and the model's and fields' verbose names hold HTML and JavaScript. Every page and
htmx partial must show them escaped: no tag or event-handler attribute of ours comes from them,
no link, form or htmx attribute gets a ``javascript:`` URL. Each page must also show the escaped
payload, so a page that simply dropped the values would not pass unnoticed.

The CSV export (the Python rows and the ``COPY`` rows the view streams) prefixes every cell that a
spreadsheet would run as a formula (``= + - @``, tab, CR) with ``'``.
"""

import csv
import io
import json
from html.parser import HTMLParser
from urllib.parse import quote as url_quote

import pytest
from django.apps import apps
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model

import pghistory_core
from pghistory_admin.export import FORMULA_PREFIXES
from pghistory_core.models import Events
from tests.admin.export_oracle import csv_rows
from tests.testapp.models import Author, Book, Code, Document

pytestmark = pytest.mark.django_db

AUDIT_LOG = "/admin/pghistory_admin/auditlog/"

SCRIPT = "<script>alert('xss-script')</script>"
IMG = '"><img src=x onerror=alert("xss-img")>'
ATTR = "x' onmouseover='alert(1)' y=\""
JS_URL = "javascript:alert(document.cookie)"
SVG = '"><svg onload=x>'  # fits the 20 characters of Code's primary key
LONG = "A long text\n" + "word " * 30 + SCRIPT + " and " + IMG + "\nend"

# The escaped forms Django produces; one of them must show on each page (proof it was rendered).
ESCAPED = [
    "&lt;script&gt;alert(",
    "&quot;&gt;&lt;img src=x onerror=alert(",
    "&lt;svg onload=x&gt;",
    "x&#x27; onmouseover=&#x27;alert(1)",
    "javascript:alert(document.cookie)",
]
# Raw fragments of the payloads that would be live markup.
RAW = ["<script>alert(", "<img src=x", "<svg onload", "' onmouseover='", '" onmouseover="']

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "hx-get", "hx-post", "hx-push-url"}


class Markup(HTMLParser):
    """Collects what a browser would treat as live: tags, attributes, inline scripts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.inline_scripts = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script" and "src" not in dict(attrs)

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.inline_scripts.append(data)


def assert_inert(body, name):
    for raw in RAW:
        assert raw not in body, (name, raw)
    parser = Markup()
    parser.feed(body)
    for tag, attrs in parser.tags:
        # No event handler attributes anywhere (our templates use none).
        handlers = [key for key in attrs if key.lower().startswith("on")]
        assert handlers == [], (name, tag, attrs)
        assert not (tag == "img" and attrs.get("src") == "x"), (name, tag, attrs)
        for key in URL_ATTRIBUTES & set(attrs):
            value = (attrs[key] or "").strip().lower()
            assert not value.startswith(("javascript:", "data:", "vbscript:")), (name, tag, attrs)
    for script in parser.inline_scripts:
        assert "xss" not in script and "alert" not in script, (name, script)


@pytest.fixture
def hostile(db, monkeypatch):
    """History full of hostile text; Book's verbose names and its app's too."""
    # Verbose names: the model filter's choices, breadcrumbs, changed-field labels.
    monkeypatch.setattr(Book._meta, "verbose_name", "book " + SCRIPT)
    monkeypatch.setattr(Book._meta, "verbose_name_plural", "books " + IMG)
    monkeypatch.setattr(Book._meta.get_field("price"), "verbose_name", "price " + IMG)
    monkeypatch.setattr(Book._meta.get_field("title"), "verbose_name", "title " + ATTR)
    monkeypatch.setattr(apps.get_app_config("testapp"), "verbose_name", "app " + SCRIPT)

    users = get_user_model().objects
    root = users.create_superuser("root", "root@example.com", "pw")
    # create_user runs no validators: a username the admin's forms would refuse.
    evil = users.create_user(IMG, password="pw", is_staff=True, is_superuser=True)
    with pghistory_core.context(user=evil.pk, url=JS_URL, **{"<b>key</b>": IMG, "note": SCRIPT}):
        author = Author.objects.create(name=IMG, email="a@example.com")
        book = Book.objects.create(
            title=SCRIPT, author=author, price="1.00", status=SVG, data={SCRIPT: IMG, "k": ATTR}
        )
    with pghistory_core.context(user=SCRIPT, command=SCRIPT, command_args=[IMG, ATTR]):
        Book.objects.filter(pk=book.pk).update(
            title=ATTR, price="2.00", status="draft", data={"k": SCRIPT}
        )
    with pghistory_core.context(user=root.pk, url=JS_URL + "//" + IMG):
        document = Document.objects.create(body=LONG)
        Document.objects.filter(pk=document.pk).update(body=LONG.replace("word", "w" + IMG))
        Code.objects.create(code=SVG, value=1)
        Code.objects.filter(pk=SVG).update(value=2)
    return {"root": root, "evil": evil, "author": author, "book": book, "document": document}


def pages(world):
    """Every history page and partial there is for this history: (name, url, htmx)."""
    book, author, document = world["book"], world["author"], world["document"]
    objects = [
        ("book", book.pk),
        ("author", author.pk),
        ("document", document.pk),
        ("code", quote(SVG)),
    ]
    result = [
        ("audit log", AUDIT_LOG, False),
        ("audit log partial", AUDIT_LOG, True),
        ("audit log oldest first", AUDIT_LOG + "?sort=time", True),
        ("audit log filtered", AUDIT_LOG + "?model=testapp.book&field=title", False),
        ("audit log user filter", AUDIT_LOG + "?user=" + quote(IMG), False),
        ("admin index", "/admin/", False),
        ("book change list", "/admin/testapp/book/", False),
    ]
    for context_id in set(
        Events.objects.exclude(pgh_context_id=None).values_list("pgh_context_id", flat=True)
    ):
        result.append(("request view", f"{AUDIT_LOG}?context_id={context_id}", False))
        result.append(("request view partial", f"{AUDIT_LOG}?context_id={context_id}", True))
    for event in Events.objects.all():
        result.append((f"diff {event.pgh_id}", f"{AUDIT_LOG}{event.pgh_id}/diff/", False))
        # The partial shows the changes alone: a change of a number shows nothing hostile.
        shown = event.pgh_data if not event.pgh_diff else event.pgh_diff
        partial = "diff partial" if "<" in json.dumps(shown) else "plain diff partial"
        result.append((f"{partial} {event.pgh_id}", f"{AUDIT_LOG}{event.pgh_id}/diff/", True))
    # The raw id in the path (not admin-quoted): request.path, echoed in links and hx-get, holds it.
    raw = url_quote(SVG)
    result.append(("code timeline by raw id", f"/admin/testapp/code/{raw}/history/", False))
    result.append(("code timeline partial by raw id", f"/admin/testapp/code/{raw}/history/", True))
    for model, pk in objects:
        base = f"/admin/testapp/{model}/{pk}/history/"
        result.append((f"{model} timeline", base, False))
        result.append((f"{model} timeline partial", base + "?before=999999999", True))
        ids = sorted(
            Events.objects.filter(pgh_obj_model=f"testapp.{model.capitalize()}").values_list(
                "pgh_id", flat=True
            )
        )
        result.append((f"{model} compare", f"{base}compare/?a={ids[0]}&b=current", False))
        result.append((f"{model} compare events", f"{base}compare/?a={ids[0]}&b={ids[-1]}", False))
        result.append((f"{model} revert", f"{base}{ids[0]}/revert/", False))
    return result


def test_every_page_and_partial_renders_hostile_text_escaped(client, hostile):
    client.force_login(hostile["root"])
    checked = 0
    for name, url, htmx in pages(hostile):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        response = client.get(url, **headers)
        assert response.status_code == 200, (name, url)
        body = response.content.decode()
        assert_inert(body, name)
        if not name.startswith("plain"):
            assert any(escaped in body for escaped in ESCAPED), (name, url)
        checked += 1
    assert checked > 40


def test_the_revert_messages_escape_the_object(client, hostile):
    client.force_login(hostile["root"])
    book = hostile["book"]
    first = Events.objects.tracks(book).order_by("pgh_id").first()
    # The first version's status is not one of the field's choices: the admin refuses it, and
    # its message (which quotes the value) is escaped.
    url = f"/admin/testapp/book/{book.pk}/history/{first.pgh_id}/revert/"
    response = client.post(url)
    assert response.status_code == 400
    assert "is not a valid choice" in response.content.decode()
    assert_inert(response.content.decode(), "revert refusal")
    Book.objects.filter(pk=book.pk).update(title=SCRIPT, status="draft")
    valid = Events.objects.tracks(book).order_by("-pgh_id").first()
    Book.objects.filter(pk=book.pk).update(title="plain")
    response = client.post(
        f"/admin/testapp/book/{book.pk}/history/{valid.pgh_id}/revert/", follow=True
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "was reverted to its version of event" in body
    assert "&lt;script&gt;alert(" in body  # the title, reverted to SCRIPT, in the message
    assert_inert(body, "revert message")


def test_hostile_filter_input_is_echoed_escaped(client, hostile):
    client.force_login(hostile["root"])
    for params in (
        {"user": IMG},
        {"object": SCRIPT},
        {"model": IMG},
        {"field": SCRIPT},
        {"action": ATTR},
        {"context": f"k={IMG}"},
        {"context": IMG},
        {"since": SCRIPT},
        {"context_id": IMG},
        {"sort": IMG},
        {"before": SCRIPT},
        {IMG: SCRIPT},
    ):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            body = client.get(AUDIT_LOG, params, **headers).content.decode()
            assert_inert(body, str(params))
    book = hostile["book"]
    compare = client.get(f"/admin/testapp/book/{book.pk}/history/compare/", {"a": IMG, "b": SCRIPT})
    assert_inert(compare.content.decode(), "compare")


def test_context_url_is_text_never_a_link(client, hostile):
    client.force_login(hostile["root"])
    for url in (AUDIT_LOG, f"/admin/testapp/book/{hostile['book'].pk}/history/"):
        body = client.get(url).content.decode()
        assert "javascript:alert(document.cookie)" in body
        parser = Markup()
        parser.feed(body)
        hrefs = [attrs.get("href") or "" for _tag, attrs in parser.tags]
        assert not [href for href in hrefs if "javascript" in href.lower()]


# CSV injection ---------------------------------------------------------------------------------

FORMULAS = [
    "=1+2",
    "+SUM(A1)",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    '=HYPERLINK("x")',
]


@pytest.fixture
def formulas(db):
    for index, formula in enumerate(FORMULAS):
        # Object ids (Code's text primary key), context values and context keys (the header).
        keys = {} if "\r" in formula else {formula: "v"}  # see the CR test below
        with pghistory_core.context(url=formula, note=formula, user=formula, **keys):
            Code.objects.create(code=formula[:20], value=index)
    with pghistory_core.context(user=-1, url="/ok/"):
        Author.objects.create(name="=cmd|' /C calc'!A0", email="@x")


def parse(body):
    """Strict parsing: a CR or LF outside quotes would break the row (and start a new one)."""
    return list(csv.reader(io.StringIO(body, newline=""), strict=True))


def assert_neutralised(rows, keys=True):
    assert len(rows) > 1
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_PREFIXES), (cell, row)
    # Formula-looking values are there, defused; the context keys are inside the JSON of the
    # context column (a JSON object never starts a formula).
    cells = {cell for row in rows[1:] for cell in row}
    for formula in FORMULAS:
        assert "'" + formula in cells, formula
    if keys:
        context = rows[0].index("context")
        found = {key for row in rows[1:] if row[context] for key in json.loads(row[context])}
        assert {f for f in FORMULAS if "\r" not in f} <= found
    assert "'-1" in cells


def test_csv_rows_neutralise_formulas(formulas):
    assert_neutralised([list(row) for row in csv_rows(Events.objects.all())])


def test_copy_export_neutralises_formulas(formulas, admin_client):
    response = admin_client.get(AUDIT_LOG + "export/")
    rows = parse(b"".join(response.streaming_content).decode())
    assert_neutralised(rows)
    # The same cells as the Python rows (the JSON columns may order their keys differently).
    python_rows = [list(row) for row in csv_rows(Events.objects.all())]
    assert [row[:-3] for row in rows] == [row[:-3] for row in python_rows]


def test_copy_export_quotes_a_carriage_return_in_a_context_key(admin_client, author, settings):
    settings.PGHISTORY_ADMIN_EXPORT_CONTEXT_COLUMNS = ["\r=1+2"]
    with pghistory_core.context(**{"\r=1+2": "v"}):
        Author.objects.filter(pk=author.pk).update(email="x@example.com")
    response = admin_client.get(AUDIT_LOG + "export/")
    body = b"".join(response.streaming_content).decode()
    rows = parse(body)
    # The CR stays inside one quoted header cell (a CSV reader sees one cell): it neither
    # splits the header row nor starts a new row with "=1+2".
    assert "context.\r=1+2" in rows[0]
    assert len(rows) == 3  # the header, the author's insert and update
    assert len({len(row) for row in rows}) == 1
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_PREFIXES), cell


def test_per_object_export_neutralises_and_keeps_the_header_plain(formulas, admin_client):
    nasty = 'x"\r\nSet-Cookie:a=1'
    Code.objects.create(code=nasty, value=1)
    for pk in ("=1+2", "\r=1", nasty):
        # The admin's quoting leaves CR alone: percent-encode it for the URL.
        response = admin_client.get(f"/admin/testapp/code/{url_quote(quote(pk))}/history/export/")
        assert response.status_code == 200
        disposition = response["Content-Disposition"]
        assert "\r" not in disposition and "\n" not in disposition
        assert disposition.count('"') == 2
        rows = parse(b"".join(response.streaming_content).decode())
        assert len(rows) == 2
        for row in rows:
            for cell in row:
                assert not cell.startswith(FORMULA_PREFIXES), cell
