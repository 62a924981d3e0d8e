"""The README documents the audit log's query parameters as a stable interface: keep it in step."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from pghistory_admin.filters import EventFilterSet
from pghistory_admin.pagination import AFTER, BEFORE

README = Path(__file__).resolve().parents[3] / "README.md"


def _section(title):
    text = README.read_text()
    start = text.index(f"### {title}")
    end = text.index("\n### ", start + 1)
    return text[start:end]


def _first_column(section, header):
    table = section[section.index(header) :]
    names = set()
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        names.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


def test_every_query_parameter_is_documented_and_exists():
    section = _section("Audit log URLs")
    documented = _first_column(section, "| parameter | value | matches |")
    assert documented == {*EventFilterSet.base_filters, "sort", BEFORE, AFTER}


def test_documented_urls_are_the_url_names():
    section = _section("Audit log URLs")
    assert f"| `{reverse('admin:pghistory_admin_auditlog_changelist')}` |" in section
    assert f"| `{reverse('admin:pghistory_admin_auditlog_export')}` |" in section
    diff = reverse("admin:pghistory_admin_auditlog_diff", args=[7]).replace("7", "<pgh_id>")
    assert f"| `{diff}` |" in section


@pytest.mark.parametrize(
    "query",
    [
        "model=testapp.book&action=update&since=2026-03-01&until=2026-03-31",
        "user=root&field=title",
        "model=testapp.book&object=42",
        "context=request_id%3Dabc%20task%3Dimport",
        "user=root&before=981204",
        "sort=time&after=1",
    ],
)
def test_documented_formats_are_accepted(root_client, query):
    response = root_client.get(f"{reverse('admin:pghistory_admin_auditlog_changelist')}?{query}")
    assert response.status_code == 200
    assert "These filters are not valid:" not in response.content.decode()
    assert not response.context["cursor_error"]
