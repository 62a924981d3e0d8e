import pytest
from django.contrib.admin import site
from django.test import RequestFactory

from pghistory_admin.links import AdminLinks
from pghistory_admin.rows import RowBuilder
from pghistory_admin.tables import EventTable
from pghistory_core.models import Events

pytestmark = pytest.mark.django_db


def table_for(user, **kwargs):
    request = RequestFactory().get("/admin/pghistory_admin/auditlog/")
    request.user = user
    rows = RowBuilder(AdminLinks(site, request)).build(list(Events.objects.order_by("-pgh_id")))
    return EventTable(rows, request=request, **kwargs), request


def test_columns_and_sorting(superuser, history):
    table, _ = table_for(superuser)
    assert [column.name for column in table.columns] == [
        "time",
        "model",
        "object",
        "action",
        "user",
        "source",
        "changes",
    ]
    assert [column.name for column in table.columns if column.orderable] == ["time"]


def test_cells(superuser, history):
    table, request = table_for(superuser)
    html = table.as_html(request)
    assert "<time datetime=" in html
    assert '<span class="pgh-action pgh-action-update">updated</span>' in html
    assert f'<a href="/admin/auth/user/{superuser.pk}/change/">root</a>' in html
    assert '<code class="pgh-source-value">seed --fast</code>' in html
    assert "Initial values" in html
    assert 'data-pgh-id="' in html


def test_deleted_objects_are_marked(superuser, history):
    history["book"].delete()
    table, request = table_for(superuser)
    assert '<span class="pgh-deleted">(deleted)</span>' in table.as_html(request)


def test_values_are_escaped(superuser, author):
    import pghistory_core

    with pghistory_core.context(url="/<script>x</script>"):
        author.name = "<b>bold</b>"
        author.save()
    table, request = table_for(superuser)
    html = table.as_html(request)
    assert "<script>x" not in html
    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_sort_header_swaps_with_htmx(superuser, history):
    table, request = table_for(superuser, order_by="-time")
    html = table.as_html(request)
    assert 'aria-sort="descending"' in html
    assert 'hx-get="?sort=time"' in html


HOSTILE = "<b>x</b> & \"q\" 'a'"


def _rows_of_every_kind():
    """EventRows (unsaved events) covering each branch of the cells."""
    from datetime import UTC, datetime

    from django.utils.safestring import mark_safe

    from pghistory_admin.rows import EventRow

    def row(pgh_id, label="update", diff=None, **fields):
        event = Events(
            pgh_id=pgh_id,
            pgh_label=label,
            pgh_created_at=datetime(
                2026, 1 + pgh_id % 12, 1 + pgh_id % 28, pgh_id % 24, 0, 7, tzinfo=UTC
            ),
            pgh_diff=diff,
        )
        defaults = {"tracked_model": None, "action": "updated", "source": "", "model_label": "Book"}
        return EventRow(event=event, **{**defaults, **fields})

    return [
        row(1, object_label="Plain", object_url="/o/1/", object_exists=True, diff_url="/d/1/"),
        row(
            2,
            object_label=HOSTILE,
            object_exists=False,
            diff_url="/d/2/",
            diff={"a": [1, 2]},
            changed_fields=["Title", HOSTILE],
        ),
        row(3, object_label="Moved", renamed_to="b<", object_url="/o/3/?a=1&b=2", diff_url=None),
        row(
            4,
            object_label="",
            user_label=HOSTILE,
            user_url="/u/1/",
            source="/x/?a=1&b=2",
            context_url="/c/?context_id=1",
            diff_url="/d/4/",
            label="insert",
            action="created",
        ),
        row(
            5,
            object_label=mark_safe("<i>safe</i>"),
            user_label="via psql as role etl",
            user_note=HOSTILE,
            context_url="/c/2/",
            diff_url="/d/5/",
            label="delete",
            diff={},
        ),
        row(
            6,
            object_label="x",
            source=HOSTILE,
            action="",
            label="<custom>",
            diff_url="/d/6/",
            diff={"k": [None, 1]},
            changed_fields=["K"],
            renamed_from="old",
        ),
        row(7, object_label="y", source="seed --fast", model_label="", diff_url="/d/7/"),
    ]


def test_body_is_django_tables2s_markup(superuser, db):
    from pghistory_admin.table_body import render_body

    request = RequestFactory().get("/admin/pghistory_admin/auditlog/")
    request.user = superuser
    for order_by in ("-time", "time"):
        fast = EventTable(_rows_of_every_kind(), request=request, order_by=order_by)
        generic = EventTable(_rows_of_every_kind(), request=request, order_by=order_by)
        html = fast.body_html()
        assert fast._cells() is not None  # the table's own rows, not render_body
        assert html == render_body(generic, generic.row_html_after)
        assert (
            "<b>x</b>" not in html
            and "&lt;b&gt;x&lt;/b&gt; &amp; &quot;q&quot; &#x27;a&#x27;" in html
        )
        assert "<i>safe</i>" in html  # safe labels stay as they are, as with format_html
    empty = EventTable([], request=request)
    assert empty.body_html() == '<tr><td colspan="7">No events.</td></tr>'


def test_tables_with_other_cells_use_render_body(superuser, db):
    class Shouting(EventTable):
        def render_user(self, value, record):
            return value.upper()

    request = RequestFactory().get("/admin/pghistory_admin/auditlog/")
    request.user = superuser
    for table in (
        Shouting(_rows_of_every_kind(), request=request),
        EventTable(_rows_of_every_kind(), request=request, exclude=("source",)),
        EventTable(
            _rows_of_every_kind(), request=request, attrs={"td": {"class": lambda value: "v"}}
        ),
    ):
        assert table._cells() is None
    html = Shouting(_rows_of_every_kind(), request=request).body_html()
    assert "&lt;B&gt;X&lt;/B&gt;" in html  # a plain string from a render method is escaped
