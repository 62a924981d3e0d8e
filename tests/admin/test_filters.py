import datetime
import re

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

import pghistory_core
from pghistory_admin.filters import ContextPairsField, EventFilterSet
from pghistory_admin.keys import parse_object_id
from pghistory_core.models import Events
from pghistory_core.registry import event_models
from tests.testapp.models import Author, AuthorEvent, Book, Code, Document

pytestmark = pytest.mark.django_db


def filtered(data, models=None):
    models = event_models() if models is None else models
    filterset = EventFilterSet(data, queryset=Events.objects.across(*models), event_models=models)
    assert filterset.is_valid(), filterset.form.errors
    return [(e.pgh_obj_model, e.pgh_label) for e in filterset.qs.order_by("pgh_id")]


def errors(data, models=None):
    models = event_models() if models is None else models
    filterset = EventFilterSet(data, queryset=Events.objects.across(*models), event_models=models)
    assert not filterset.is_valid()
    return filterset.form.errors


def test_no_filter_gives_everything(history):
    assert len(filtered({})) == Events.objects.count()


def test_model_filter(history):
    assert filtered({"model": "testapp.author"}) == [
        ("testapp.Author", "insert"),
        ("testapp.Author", "update"),
    ]
    book = filtered({"model": "testapp.book"})
    assert {label for _, label in book} == {"insert", "update", "price_changed"}


def test_model_choices_are_the_permitted_models():
    filterset = EventFilterSet({}, queryset=Events.objects.all(), event_models=[AuthorEvent])
    assert [value for value, _ in filterset.form.fields["model"].choices if value] == [
        "testapp.author"
    ]


def test_unknown_or_forbidden_model_is_a_form_error(history):
    assert "model" in errors({"model": "testapp.nope"})
    assert "model" in errors({"model": "testapp.book"}, models=[AuthorEvent])
    assert "model" in errors({"model": "auth.user"})


def test_action_filter(history):
    assert filtered({"action": "update"}) == [
        ("testapp.Book", "update"),
        ("testapp.Author", "update"),
    ]
    assert "action" in errors({"action": "drop"})


def test_action_choices_come_from_the_trackers():
    filterset = EventFilterSet({}, queryset=Events.objects.all(), event_models=[AuthorEvent])
    choices = dict(filterset.form.fields["action"].choices)
    assert choices == {
        "": "All",
        "delete": "deleted",
        "insert": "created",
        "snapshot": "snapshot",
        "update": "updated",
    }


def test_user_filter_by_username_or_id(history, superuser):
    by_name = filtered({"user": "root"})
    assert by_name == [("testapp.Book", "price_changed"), ("testapp.Book", "update")]
    assert filtered({"user": str(superuser.pk)}) == by_name


def test_unknown_user_is_a_form_error(history):
    assert errors({"user": "nobody"})["user"] == [
        "No user “nobody” exists (give a username or a user id)."
    ]
    assert "user" in errors({"user": "' OR 1=1 --"})
    assert "user" in errors({"user": "999999"})


def test_unknown_user_with_another_case_suggests_the_username(history):
    # Usernames are case-sensitive: "Root" is not "root", but the error points to it.
    assert errors({"user": "Root"})["user"] == ["No user “Root” exists. Did you mean “root”?"]


def test_a_user_who_changed_nothing_is_no_error(history, make_staff):
    make_staff("idle")
    assert filtered({"user": "idle"}) == []


def field_choices(data, models=None):
    models = event_models() if models is None else models
    filterset = EventFilterSet(data, queryset=Events.objects.across(*models), event_models=models)
    return list(filterset.form.fields["field"].choices)


def test_changed_field_choices_are_the_chosen_models_verbose_names():
    assert field_choices({"model": "testapp.book"}) == [
        ("", "Any"),
        ("id", "ID"),
        ("title", "Title"),
        ("author_id", "Author"),
        ("price", "Price"),
        ("status", "Status"),
        ("data", "Data"),
        ("updated_at", "Updated at"),
    ]
    assert field_choices({"model": "testapp.author"}) == [
        ("", "Any"),
        ("id", "ID"),
        ("name", "Name"),
        ("email", "Email"),
    ]


def test_changed_field_choices_without_a_model_are_grouped_by_model():
    choices = field_choices({}, models=[AuthorEvent])
    assert choices == [
        ("", "Any"),
        ("Author", [("id", "ID"), ("name", "Name"), ("email", "Email")]),
    ]
    groups = [label for label, _ in field_choices({})[1:]]
    assert "Book" in groups
    assert "Author" in groups


def test_changed_field_of_another_model_is_a_form_error(history):
    assert filtered({"model": "testapp.author", "field": "email"}) == [("testapp.Author", "update")]
    message = errors({"model": "testapp.author", "field": "price"})["field"][0]
    assert message == "“price” is not a tracked field of the chosen model: pick one from the list."


def test_date_range(history):
    AuthorEvent.objects.update(pgh_created_at=timezone.now() - datetime.timedelta(days=10))
    today = timezone.localdate()
    old = (today - datetime.timedelta(days=10)).isoformat()
    assert {m for m, _ in filtered({"since": today.isoformat()})} == {"testapp.Book"}
    assert {m for m, _ in filtered({"until": old})} == {"testapp.Author"}
    assert {m for m, _ in filtered({"since": old, "until": old})} == {"testapp.Author"}
    assert filtered({"until": "9999-12-31"}) == filtered({})


@pytest.mark.parametrize(
    "value", ["yesterday", "2024-13-01", "2024-02-30", "99999-01-01", "'; DROP TABLE x; --"]
)
def test_malformed_dates_are_form_errors(history, value):
    assert "since" in errors({"since": value})


def test_reversed_range_is_an_error(history):
    assert "until" in errors({"since": "2024-05-02", "until": "2024-05-01"})


def test_object_filter_with_a_model_uses_its_id_type(history):
    book = history["book"]
    assert {label for _, label in filtered({"model": "testapp.book", "object": str(book.pk)})} == {
        "insert",
        "update",
        "price_changed",
    }
    assert "object" in errors({"model": "testapp.book", "object": "abc"})
    assert "object" in errors({"model": "testapp.book", "object": "99999999999999999999"})


def test_object_filter_alone_matches_the_text_id(history):
    result = filtered({"object": str(history["author"].pk)})
    assert ("testapp.Author", "insert") in result
    assert filtered({"object": "1; DROP TABLE testapp_book"}) == []


def test_object_filter_with_char_and_uuid_ids(db):
    code = Code.objects.create(code="a/b_c", value=1)
    document = Document.objects.create(body="hello")
    assert filtered({"model": "testapp.code", "object": code.pk}) == [("testapp.Code", "insert")]
    assert filtered({"model": "testapp.document", "object": str(document.pk)}) == [
        ("testapp.Document", "insert")
    ]
    assert "object" in errors({"model": "testapp.document", "object": "not-a-uuid"})


def test_changed_field_filter(history):
    assert filtered({"field": "email"}) == [("testapp.Author", "update")]
    assert "field" in errors({"field": "pgh_id"})
    assert "field" in errors({"field": "email' OR '1'='1"})


def test_context_filter(history):
    assert {m for m, _ in filtered({"context": "request_id=r1"})} == {"testapp.Book"}
    assert filtered({"context": "request_id=r1 url=/nope/"}) == []
    assert {m for m, _ in filtered({"context": "command=seed"})} == {"testapp.Author"}
    assert filtered({"context": 'request_id="\' OR 1=1 --"'}) == []


def test_context_filter_matches_numbers_as_text(history, superuser):
    assert len(filtered({"context": f"user={superuser.pk}"})) == 2


def test_context_filter_on_a_json_context_model(db):
    with pghistory_core.context(job="import"):
        Document.objects.create(body="x")
    assert filtered({"context": "job=import"}) == [("testapp.Document", "insert")]


def test_context_id_filter(history):
    context_id = (
        Events.objects.filter(pgh_obj_model="testapp.Author", pgh_label="update")
        .get()
        .pgh_context_id
    )
    assert filtered({"context_id": str(context_id)}) == [("testapp.Author", "update")]
    assert "context_id" in errors({"context_id": "not-a-uuid"})


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("", []),
        ("a=1", [("a", "1")]),
        ("a=1 b_c.d-e=x=y", [("a", "1"), ("b_c.d-e", "x=y")]),
        ('note="two words"', [("note", "two words")]),
        ("empty=", [("empty", "")]),
    ],
)
def test_context_pairs_field(text, pairs):
    assert ContextPairsField(required=False).clean(text) == pairs


@pytest.mark.parametrize(
    "text",
    [
        "novalue",
        "1key=x",
        "a b=c",
        'a="open',
        "k'=x",
        " ".join(f"k{i}=v" for i in range(11)),
        "k=" + "x" * 201,
    ],
)
def test_context_pairs_field_errors(text):
    with pytest.raises(ValidationError):
        ContextPairsField(required=False).clean(text)


def test_parse_object_id():
    assert parse_object_id(Author, "12") == 12
    assert parse_object_id(Code, "a_5Fb") == "a_b"  # admin-quoted
    with pytest.raises(ValidationError):
        parse_object_id(Author, "2147483648")
    with pytest.raises(ValidationError):
        parse_object_id(Book, "-")


def test_a_results_swap_refreshes_the_changed_field_choices(root_client, history):
    url = "/admin/pghistory_admin/auditlog/"
    swap = root_client.get(url, {"model": "testapp.author"}, HTTP_HX_REQUEST="true")
    html = swap.content.decode()
    oob = re.search(
        r'<div class="pgh-filter" id="pgh-filter-field" hx-swap-oob="true">.*?</div>', html, re.S
    )
    assert oob is not None
    options = re.findall(r'<option value="([^"]*)"', oob.group(0))
    assert options == ["", "id", "name", "email"]
    # The full page renders the field once, in the form, without out-of-band markup.
    page = root_client.get(url, {"model": "testapp.author"}).content.decode()
    assert page.count('id="pgh-filter-field"') == 1
    assert "hx-swap-oob" not in page


def test_an_unknown_user_says_so_on_the_page(root_client, history):
    url = "/admin/pghistory_admin/auditlog/"
    response = root_client.get(url, {"user": "Bob"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "User: No user “Bob” exists (give a username or a user id)." in html
    assert response.context["rows"] == []
