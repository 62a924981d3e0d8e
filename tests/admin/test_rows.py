import pytest
from django.contrib.admin import site
from django.test import RequestFactory

import pghistory_core
from pghistory_admin.links import AdminLinks
from pghistory_admin.rows import RowBuilder
from pghistory_admin.wording import action_label, source_of
from pghistory_core.models import Events

pytestmark = pytest.mark.django_db


def build(user, **kwargs):
    request = RequestFactory().get("/")
    request.user = user
    events = list(Events.objects.by_attname().order_by("-pgh_id"))
    return RowBuilder(AdminLinks(site, request)).build(events, **kwargs)


@pytest.mark.parametrize(
    ("label", "shown"),
    [("insert", "created"), ("update", "updated"), ("delete", "deleted"), ("snapshot", "snapshot")],
)
def test_action_label(label, shown):
    assert action_label(label) == shown


@pytest.mark.parametrize(
    ("metadata", "source"),
    [
        (None, ""),
        ({}, ""),
        ({"url": "/a/b/", "command": "x"}, "/a/b/"),
        ({"command": "seed", "command_args": ["--fast", 3]}, "seed --fast 3"),
        ({"command": "seed", "command_args": "oops"}, "seed"),
    ],
)
def test_source_of(metadata, source):
    assert source_of(metadata) == source


def test_rows_carry_users_objects_and_links(history, superuser):
    rows = build(superuser)
    by_label = {(row.event.pgh_obj_model, row.event.pgh_label): row for row in rows}
    update = by_label[("testapp.Book", "update")]
    assert update.user == superuser
    assert update.user_url == f"/admin/auth/user/{superuser.pk}/change/"
    assert update.object_label == "The Dispossessed (2nd ed.)"
    assert update.object_url == f"/admin/testapp/book/{history['book'].pk}/history/"
    assert update.source == "/admin/testapp/book/1/change/"
    assert update.context_url.startswith("/admin/pghistory_admin/auditlog/?context_id=")
    assert set(update.changed_fields) >= {"Title", "Price"}
    assert not update.initial
    insert = by_label[("testapp.Book", "insert")]
    assert insert.initial
    assert insert.user is None


def test_rows_of_deleted_objects_and_users(history, superuser, make_staff):
    other, pk = make_staff("ghost"), history["book"].pk
    with pghistory_core.context(user=other.pk):
        history["book"].delete()
    other_pk = other.pk
    other.delete()
    rows = build(superuser)
    delete = rows[0]
    assert delete.event.pgh_label == "delete"
    assert delete.object_exists is False
    # Named after its last recorded values.
    assert delete.object_label == "The Dispossessed (2nd ed.)"
    assert delete.object_url == f"/admin/testapp/book/{pk}/history/"
    assert delete.user is None
    assert delete.user_label == f"deleted user #{other_pk}"


def test_user_metadata_that_is_not_a_user_id(author, superuser):
    with pghistory_core.context(user="bob"):
        author.email = "x@example.com"
        author.save()
    row = build(superuser)[0]
    assert row.user is None
    assert row.user_label == "bob"


def test_diffs_are_rendered_on_demand(history, superuser):
    rows = build(superuser, diffs=True)
    update = next(
        row
        for row in rows
        if row.event.pgh_label == "update" and row.event.pgh_obj_model == "testapp.Book"
    )
    names = {change.name for change in update.changes}
    assert {"title", "price"} <= names
    assert all(row.changes is not None for row in rows)
