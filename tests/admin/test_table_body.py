"""``table_body.render_body`` gives the rows django-tables2's own template gives."""

import re

import django_tables2 as tables
from django.test import RequestFactory
from django.utils.html import format_html

from pghistory_admin.table_body import render_body


class Sample(tables.Table):
    name = tables.Column()
    size = tables.Column(default="none", attrs={"td": {"class": lambda value: f"v-{value}"}})
    link = tables.Column(accessor="name", linkify=lambda record: f"/x/{record['id']}/")
    shout = tables.Column(accessor="name", empty_values=())

    class Meta:
        template_name = "django_tables2/table.html"
        row_attrs = {"data-id": lambda record: record["id"], "class": "r"}

    def render_shout(self, value, record):
        return format_html("<b>{}!</b>", value)


def _rows(html):
    body = html[html.index("<tbody") : html.index("</tbody>")]
    body = body[body.index(">") + 1 :]
    body = re.sub(r"<(\w+) >", r"<\1>", body)
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", body)).strip()


def test_rows_match_django_tables2s_template():
    data = [
        {"id": 1, "name": "<script>", "size": 3},
        {"id": 2, "name": "plain", "size": None},
    ]
    request = RequestFactory().get("/")
    expected = _rows(Sample(data).as_html(request))
    assert _rows(f"<tbody>{render_body(Sample(data))}</tbody>") == expected
    assert "&lt;script&gt;" in expected and "<script>" not in expected


def test_empty_text():
    html = render_body(Sample([], empty_text="Nothing <here>"))
    assert html == '<tr><td colspan="4">Nothing &lt;here&gt;</td></tr>'
