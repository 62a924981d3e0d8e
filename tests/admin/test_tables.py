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
