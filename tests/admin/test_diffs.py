"""Field-level diffs rendered from real events of the aggregate stream."""

import re
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.test import override_settings
from django.utils import formats, timezone, translation
from django.utils.dateparse import parse_datetime

from pghistory_admin.conf import DEFAULT_SECRET_FIELDS, MASK
from pghistory_admin.diffs import FieldChange, field_changes
from pghistory_admin.fk_labels import prefetch_fk_labels
from pghistory_core.models import Events
from tests.testapp.models import Author, Book, BookTag, Document, Restaurant, Tag

pytestmark = pytest.mark.django_db

LONG = (
    "The quick brown fox jumps over the lazy dog while the cautious cat watches from the "
    "warm windowsill of the old farmhouse."
)


def events(obj, event_model):
    """``(diff, data)`` of an object's events, newest first, as the admin pages read them."""
    rows = Events.objects.by_attname().tracks(obj).across(event_model).order_by("-pgh_id")
    return [(row["pgh_diff"], row["pgh_data"]) for row in rows.values("pgh_diff", "pgh_data")]


def latest(obj, event_model, **kwargs) -> dict[str, FieldChange]:
    diff, data = events(obj, event_model)[0]
    changes = field_changes(type(obj), diff, data, **kwargs)
    return {change.name: change for change in changes}


def text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_update_lists_changed_fields_in_model_order(book):
    book.title = "The Left Hand of Darkness"
    book.price = Decimal("12.50")
    book.save()
    diff, data = events(book, "testapp.BookEvent")[0]
    changes = field_changes(Book, diff, data)
    assert [c.name for c in changes] == ["title", "price", "updated_at"]
    assert all(c.changed for c in changes)
    title = changes[0]
    assert (title.label, title.kind) == ("Title", "text")
    assert (title.old, title.new) == ("The Dispossessed", "The Left Hand of Darkness")


def test_decimal_shows_the_fields_places(book):
    book.price = Decimal("12.50")
    book.save()
    price = latest(book, "testapp.BookEvent")["price"]
    assert (price.old, price.new, price.kind) == ("9.99", "12.50", "value")


def test_initial_event_shows_every_tracked_field(book):
    diff, data = events(book, "testapp.BookEvent")[-1]
    assert diff is None
    changes = field_changes(Book, diff, data, initial=True)
    assert [c.name for c in changes] == [
        "id",
        "title",
        "author",
        "price",
        "status",
        "data",
        "updated_at",
    ]
    assert all(c.old == "" and not c.changed for c in changes)
    by_name = {c.name: c for c in changes}
    assert by_name["title"].new == "The Dispossessed"
    assert text(by_name["author"].new) == f"Ursula (#{book.author_id})"


def test_no_diff_and_not_initial_is_empty(book):
    _, data = events(book, "testapp.BookEvent")[-1]
    assert field_changes(Book, None, data) == []
    assert field_changes(Book, {}, data) == []


def test_foreign_key_shows_target_label_and_id(book, author):
    other = Author.objects.create(name="Le Guin")
    book.author = other
    book.save()
    change = latest(book, "testapp.BookEvent")["author"]
    assert change.kind == "fk"
    assert change.label == "Author"
    assert text(change.old) == f"Ursula (#{author.pk})"
    assert text(change.new) == f"Le Guin (#{other.pk})"
    assert "pgh-deleted" not in change.old


def test_foreign_key_to_deleted_target_is_marked(book, author):
    other = Author.objects.create(name="Le Guin")
    book.author = other
    book.save()
    gone = author.pk
    author.delete()  # the book now belongs to the other author and survives
    change = latest(book, "testapp.BookEvent")["author"]
    assert 'class="pgh-fk pgh-deleted"' in change.old
    # Author is tracked: the deleted author is named after its last recorded values.
    assert text(change.old) == f"Ursula (#{gone}, deleted)"
    assert text(change.new) == f"Le Guin (#{other.pk})"


def test_foreign_key_to_a_deleted_untracked_target_shows_its_id(book):
    tag = Tag.objects.create(name="sf")
    link = BookTag.objects.create(book=book, tag=tag)
    tag_pk = tag.pk
    BookTag.objects.filter(pk=link.pk).delete()
    tag.delete()  # Tag is not tracked: nothing recorded its name
    diff, data = events(link, "testapp.BookTagEvent")[0]
    changes = {c.name: c for c in field_changes(BookTag, diff, data, initial=True)}
    assert text(changes["tag"].new) == f"#{tag_pk} (deleted)"
    assert text(changes["book"].new) == f"The Dispossessed (#{book.pk})"


def test_choices_show_their_display_value(book):
    book.status = "published"
    book.save()
    change = latest(book, "testapp.BookEvent")["status"]
    assert change.kind == "choice"
    assert (text(change.old), text(change.new)) == ("Draft", "Published")


def test_booleans_show_yes_and_no_translated():
    place = Restaurant.objects.create(name="Da Mario")
    place.serves_pizza = True
    place.save()
    change = latest(place, "testapp.RestaurantEvent")["serves_pizza"]
    assert (change.kind, change.old, change.new) == ("bool", "No", "Yes")
    with translation.override("fr"):
        change = latest(place, "testapp.RestaurantEvent")["serves_pizza"]
    assert (change.old, change.new) == ("Non", "Oui")


def test_datetimes_are_shown_in_the_current_time_zone(book):
    book.title = "Renamed"
    book.save()
    with timezone.override("Asia/Kolkata"):
        change = latest(book, "testapp.BookEvent")["updated_at"]
        diff, _ = events(book, "testapp.BookEvent")[0]
        new = timezone.localtime(parse_datetime(diff["updated_at"][1]))
        expected = formats.date_format(new, "DATETIME_FORMAT")
    assert change.kind == "datetime"
    assert text(change.new) == expected
    assert f'datetime="{new.isoformat()}"' in change.new
    assert "+05:30" in change.new


def test_long_text_highlights_changed_words():
    doc = Document.objects.create(body=LONG)
    doc.body = LONG.replace("quick", "slow").replace("old farmhouse", "farmhouse")
    doc.save()
    change = latest(doc, "testapp.DocumentEvent")["body"]
    assert change.kind == "longtext"
    assert "<del>quick</del>" in change.old
    assert "<ins>slow</ins>" in change.new
    assert "<del>old </del>" in change.old
    assert "<ins>" not in change.old and "<del>" not in change.new
    assert text(change.old) == LONG
    assert text(change.new) == doc.body


def test_multiline_text_counts_as_long_and_short_text_does_not():
    doc = Document.objects.create(body="one\ntwo")
    doc.body = "one\nthree"
    doc.save()
    change = latest(doc, "testapp.DocumentEvent")["body"]
    assert change.kind == "longtext"
    assert (change.old, change.new) == ("one\n<del>two</del>", "one\n<ins>three</ins>")
    short = Document.objects.create(body="<b>tiny</b>")
    short.body = "small"
    short.save()
    change = latest(short, "testapp.DocumentEvent")["body"]
    assert (change.kind, change.old, change.new) == ("text", "&lt;b&gt;tiny&lt;/b&gt;", "small")


def json_items(html):
    """``(key, status, text)`` of the top-level keys of a rendered JSON object."""
    items = []
    depth = 0
    for match in re.finditer(r'<li(?: class="pgh-json-(\w+)")? data-key="([^"]*)">|</li>', html):
        if match.group(0) == "</li>":
            depth -= 1
            continue
        if depth == 0:
            start = match.end()
            end = _closing_li(html, start)
            items.append((match.group(2), match.group(1) or "", text(html[start:end])))
        depth += 1
    return items


def _closing_li(html, start):
    depth = 1
    for match in re.finditer(r"<li[ >]|</li>", html[start:]):
        depth += 1 if match.group(0) != "</li>" else -1
        if depth == 0:
            return start + match.start()
    raise AssertionError("unbalanced <li>")


def test_json_fields_render_alike_on_both_sides_key_by_key(book):
    book.data = {"kept": 1, "changed": [1, 2], "removed": "x", "nested": {"a": 1, "b": 2}}
    book.save()
    book.data = {"kept": 1, "changed": [1, 3], "added": True, "nested": {"a": 2, "b": 2}}
    book.save()
    change = latest(book, "testapp.BookEvent")["data"]
    assert change.kind == "json"
    # Every key of each side, in the same form; marked against the other side.
    assert json_items(change.old) == [
        ("changed", "changed", "changed: [1,2] (changed)"),
        ("kept", "same", "kept: 1"),
        ("nested", "changed", "nested: a: 1 (changed)b: 2 (changed)"),
        ("removed", "removed", "removed: &quot;x&quot; (removed)"),
    ]
    assert json_items(change.new) == [
        ("added", "added", "added: true (added)"),
        ("changed", "changed", "changed: [1,3] (changed)"),
        ("kept", "same", "kept: 1"),
        ("nested", "changed", "nested: a: 2 (changed)b: 2 (changed)"),
    ]
    # The nested object is compared key by key too: only "a" changed inside it.
    nested_old = change.old[change.old.index('data-key="nested"') :]
    assert '<li class="pgh-json-changed" data-key="a">' in nested_old
    assert '<li class="pgh-json-same" data-key="b">' in nested_old
    assert '<del><code class="pgh-json">[1,2]</code></del>' in change.old
    assert '<ins><code class="pgh-json">[1,3]</code></ins>' in change.new
    assert "<ins>" not in change.old
    assert "<del>" not in change.new


def test_json_added_keys_do_not_make_the_old_side_raw(book):
    """The trial's case: a key added to a tea's attributes; the old keys stay listed on both."""
    book.data = {"kind": "sencha", "weight_g": 250}
    book.save()
    book.data = {"kind": "sencha", "weight_g": 250, "certifications": ["organic", "JAS"]}
    book.save()
    change = latest(book, "testapp.BookEvent")["data"]
    assert json_items(change.old) == [
        ("kind", "same", "kind: &quot;sencha&quot;"),
        ("weight_g", "same", "weight_g: 250"),
    ]
    assert json_items(change.new) == [
        (
            "certifications",
            "added",
            "certifications: [&quot;organic&quot;,&quot;JAS&quot;] (added)",
        ),
        ("kind", "same", "kind: &quot;sencha&quot;"),
        ("weight_g", "same", "weight_g: 250"),
    ]


def test_json_from_empty_object_and_initial_json(book):
    book.data = {"a": 1}
    book.save()
    change = latest(book, "testapp.BookEvent")["data"]
    assert change.old == '<del><code class="pgh-json">{}</code></del>'
    assert json_items(change.new) == [("a", "added", "a: 1 (added)")]
    book.data = {"a": {"b": [1], "c": {"d": None}}}
    book.save()
    _, data = events(book, "testapp.BookEvent")[0]
    initial = {c.name: c for c in field_changes(Book, None, data, initial=True)}
    # Initial values: every key, nested objects as nested lists, nothing marked.
    assert initial["data"].new == (
        '<ul class="pgh-json"><li data-key="a"><span class="pgh-json-key">a</span>: '
        '<ul class="pgh-json"><li data-key="b"><span class="pgh-json-key">b</span>: '
        '<code class="pgh-json">[1]</code></li>'
        '<li data-key="c"><span class="pgh-json-key">c</span>: '
        '<ul class="pgh-json"><li data-key="d"><span class="pgh-json-key">d</span>: '
        '<code class="pgh-json">null</code></li></ul></li></ul></li></ul>'
    )


def test_json_scalars_and_lists_are_marked_whole(book):
    book.data = [1, 2]
    book.save()
    book.data = "plain"
    book.save()
    change = latest(book, "testapp.BookEvent")["data"]
    assert change.old == '<del><code class="pgh-json">[1,2]</code></del>'
    assert change.new == '<ins><code class="pgh-json">&quot;plain&quot;</code></ins>'
    book.data = "plain"
    book.save()
    book.data = {"k": "v"}
    book.save()
    change = latest(book, "testapp.BookEvent")["data"]
    assert change.old == '<del><code class="pgh-json">&quot;plain&quot;</code></del>'
    assert json_items(change.new) == [("k", "added", "k: &quot;v&quot; (added)")]


def test_values_are_escaped(book):
    payload = "<script>alert(1)</script>"
    book.title = payload
    book.data = {payload: payload}
    book.save()
    Author.objects.filter(pk=book.author_id).update(name=payload)
    changes = latest(book, "testapp.BookEvent")
    html = "".join(c.old + c.new for c in changes.values())
    assert "<script>" not in html
    assert changes["title"].new == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert "&lt;script&gt;" in changes["data"].new
    author_change = field_changes(Book, None, events(book, "testapp.BookEvent")[0][1], initial=True)
    assert "<script>" not in author_change[2].new
    assert "&lt;script&gt;alert(1)&lt;/script&gt; (#" in author_change[2].new


def test_template_renders_values_escaped_once(book):
    book.title = "<script>alert(1)</script>"
    book.save()
    diff, data = events(book, "testapp.BookEvent")[0]
    html = render_to_string(
        "pghistory_admin/diff.html", {"changes": field_changes(Book, diff, data)}
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&amp;lt;" not in html and "<script>" not in html
    assert html.count('<td class="pgh-old"') == 2  # title and updated_at
    assert 'data-field="title"' in html


def test_template_renders_initial_rows_with_one_value_column(book):
    _, data = events(book, "testapp.BookEvent")[-1]
    changes = field_changes(Book, None, data, initial=True)
    html = render_to_string("pghistory_admin/diff.html", {"changes": changes})
    assert "pgh-diff-initial" in html
    assert "pgh-old" not in html
    assert html.count("<tr class=") == len(changes)
    assert "No tracked field changed." in render_to_string(
        "pghistory_admin/diff.html", {"changes": []}
    )


def test_unknown_keys_render_as_plain_escaped_values(book):
    changes = field_changes(Book, {"gone_field": ["<b>x</b>", {"k": 1}]}, {})
    assert changes == [
        FieldChange(
            name="gone_field",
            label="Gone field",
            old="&lt;b&gt;x&lt;/b&gt;",
            new="{&quot;k&quot;:1}",
            kind="value",
            changed=True,
        )
    ]


def test_default_secret_fields_mask_password_like_names(author):
    assert "*token*" in DEFAULT_SECRET_FIELDS
    diff = {
        "password": ["old-hash", "new-hash"],
        "reset_token": ["t1", "t2"],
        "client_secret": ["s1", "s2"],
        "api_key": ["k1", "k2"],
        "email": ["a@example.com", "b@example.com"],
    }
    changes = {c.name: c for c in field_changes(Author, diff, {})}
    for name in ("password", "reset_token", "client_secret", "api_key"):
        assert changes[name].kind == "secret"
        assert MASK in changes[name].old and MASK in changes[name].new
    assert changes["email"].kind == "text"
    html = "".join(c.old + c.new for c in changes.values() if c.kind == "secret")
    assert not any(secret in html for pair in diff.values() for secret in pair)


@pytest.mark.parametrize("pattern", ["email", "testapp.author.email", "E*"])
def test_secret_fields_setting_masks_existing_field(author, pattern):
    author.email = "new@example.com"
    author.save()
    with override_settings(PGHISTORY_ADMIN_SECRET_FIELDS=[pattern]):
        change = latest(author, "testapp.AuthorEvent")["email"]
        _, data = events(author, "testapp.AuthorEvent")[-1]
        initial = {c.name: c for c in field_changes(Author, None, data, initial=True)}
    assert change.kind == "secret"
    assert MASK in change.old and MASK in change.new
    assert "example.com" not in change.old + change.new
    assert initial["email"].kind == "secret" and "example.com" not in initial["email"].new
    assert initial["name"].new == "Ursula"
    # read at call time: outside the override the value shows again
    assert latest(author, "testapp.AuthorEvent")["email"].new == "new@example.com"


def test_prefetch_fetches_each_target_model_once(django_assert_num_queries):
    books = [
        Book.objects.create(title=f"b{i}", author=Author.objects.create(name=f"a{i}"))
        for i in range(5)
    ]
    tags = [Tag.objects.create(name=f"t{i}") for i in range(4)]
    for book in books:
        for tag in tags:
            BookTag.objects.create(book=book, tag=tag)
    rows = [
        (row["pgh_diff"], row["pgh_data"])
        for row in Events.objects.by_attname()
        .across("testapp.BookTagEvent")
        .order_by("-pgh_id")
        .values()
    ]
    assert len(rows) == 20
    with django_assert_num_queries(2):  # books, tags
        labels = prefetch_fk_labels(BookTag, rows)
    with django_assert_num_queries(0):
        changes = [
            field_changes(BookTag, d, data, initial=True, fk_labels=labels) for d, data in rows
        ]
    assert {text(c[1].new) for c in changes} == {f"b{i} (#{b.pk})" for i, b in enumerate(books)}
    assert {text(c[2].new) for c in changes} == {f"Tag object ({t.pk}) (#{t.pk})" for t in tags}


def test_prefetch_over_diffs_and_missing_labels(django_assert_num_queries):
    authors = [Author.objects.create(name=f"a{i}") for i in range(6)]
    book = Book.objects.create(title="b", author=authors[0])
    for author in authors[1:]:
        book.author = author
        book.save()
    rows = [(diff, data) for diff, data in events(book, "testapp.BookEvent") if diff]
    assert len(rows) == 5
    with django_assert_num_queries(1):
        labels = prefetch_fk_labels(Book, rows)
    with django_assert_num_queries(0):
        for diff, data in rows:
            field_changes(Book, diff, data, fk_labels=labels)
    # ids the prefetch did not see are fetched by the call itself, once per target model
    with django_assert_num_queries(1):
        changes = field_changes(
            Book, {"author_id": [authors[0].pk, authors[1].pk]}, {}, fk_labels={}
        )
    assert text(changes[0].old) == f"a0 (#{authors[0].pk})"
