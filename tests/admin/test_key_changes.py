"""An object whose primary key changed: its two histories link to each other."""

import pytest
from django.apps import apps

from pghistory_core.models import Events
from tests.testapp.models import Code

pytestmark = pytest.mark.django_db

AUDIT_LOG = "/admin/pghistory_admin/auditlog/"


def history(pk):
    return f"/admin/testapp/code/{pk}/history/"


@pytest.fixture
def renamed(db):
    """Code "a" (value 1 → 2), renamed to "b" with value 3, then set to 4."""
    Code.objects.create(code="a", value=1)
    Code.objects.filter(pk="a").update(value=2)
    Code.objects.filter(pk="a").update(code="b", value=3)
    Code.objects.filter(pk="b").update(value=4)
    return Events.objects.tracks(Code(pk="b")).order_by("pgh_id").first().pgh_id


def test_new_key_timeline_starts_with_the_rename_as_a_diff(root_client, renamed):
    response = root_client.get(history("b"))
    rows = {row.pgh_id: row for row in response.context["rows"]}
    rename = rows[renamed]
    assert (rename.renamed_from, rename.renamed_from_url) == ("a", history("a"))
    # Not "Initial values": what the update changed, the key included.
    assert not rename.initial
    assert [(c.name, c.old, c.new) for c in rename.changes] == [
        ("code", "a", "b"),
        ("value", "2", "3"),
    ]
    html = response.content.decode()
    assert f'Renamed from #a: <a href="{history("a")}">its history under the old key</a>' in html
    assert "Initial values" not in html


def test_old_key_timeline_links_to_the_new_one(root_client, renamed):
    response = root_client.get(history("a"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "This object was renamed to #b" in html
    assert f'<a href="{history("b")}">Its history under the new key</a>' in html
    assert "History: Code object (a) (renamed to #b)" in html
    assert "This object has been deleted" not in html
    # Restoring the old key would make a second object.
    assert "Restore this version" not in html
    assert [row.event.pgh_label for row in response.context["rows"]] == ["update", "insert"]


def test_audit_log_marks_both_halves(root_client, renamed):
    response = root_client.get(AUDIT_LOG, {"model": "testapp.code"})
    rows = {row.pgh_id: row for row in response.context["rows"]}
    assert rows[renamed].renamed_from == "a"
    assert rows[renamed].changed_fields == ["Code", "Value"]
    old_rows = [row for row in rows.values() if row.event.pgh_obj_id == "a"]
    assert {(row.renamed_to, row.renamed_to_url) for row in old_rows} == {("b", history("b"))}
    html = response.content.decode()
    assert '<span class="pgh-deleted pgh-renamed">(renamed to #b)</span>' in html
    diff = root_client.get(f"{AUDIT_LOG}{renamed}/diff/").content.decode()
    assert "Renamed from #a" in diff


def test_a_first_update_without_a_key_change_stays_initial(root_client, db):
    """Tracking that starts after the row existed: an update first, and no key change."""
    code = Code.objects.create(code="c", value=1)
    first = Events.objects.tracks(code).get()
    CodeEvent = apps.get_model("testapp", "CodeEvent")
    CodeEvent.objects.filter(pgh_id=first.pgh_id).update(pgh_label="update")
    rows = root_client.get(history("c")).context["rows"]
    assert rows[0].initial
    assert rows[0].renamed_from is None
