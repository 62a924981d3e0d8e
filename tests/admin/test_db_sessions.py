"""Writes made outside Django in the audit log: named after their database session, filterable
by its keys, exported in columns of their own."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from django.test import override_settings

from pghistory_admin.export import copy_chunks
from pghistory_core.models import Events
from tests.admin.export_oracle import csv_rows
from tests.db_sessions import attributed, login_role, psql_as
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db(transaction=True)

AUDIT_LOG = "/admin/pghistory_admin/auditlog/"


@pytest.fixture
def etl_write(author: Author) -> Iterator[str]:
    """``author`` renamed from psql by a role of its own; yields the role."""
    with attributed(), login_role("etl") as role:
        psql_as(role, f"UPDATE testapp_author SET name = 'from psql' WHERE id = {author.pk}")
        yield role


def test_audit_log_names_the_session(root_client, etl_write: str) -> None:
    html = root_client.get(AUDIT_LOG).content.decode()
    assert f">via psql as role {etl_write}</span>" in html
    assert "the application name is chosen by the client and proves nothing" in html
    with override_settings(LANGUAGE_CODE="de"):
        html = root_client.get(AUDIT_LOG).content.decode()
    assert f">über psql als Rolle {etl_write}</span>" in html


def test_client_chosen_application_names_are_escaped(root_client, author: Author) -> None:
    with attributed(), login_role("etl") as role:
        psql_as(role, "UPDATE testapp_author SET name = 'x'", appname="<b>x</b>")
        html = root_client.get(AUDIT_LOG).content.decode()
    assert f"via &lt;b&gt;x&lt;/b&gt; as role {role}" in html
    assert "<b>x</b>" not in html


def test_filter_by_session_keys_like_any_context_key(root_client, etl_write: str) -> None:
    matched = root_client.get(AUDIT_LOG, {"context": f"db_role={etl_write}"})
    assert matched.status_code == 200
    ids = [row.pgh_id for row in matched.context["rows"]]
    assert ids == [Events.objects.get(pgh_label="update").pgh_id]
    other = root_client.get(AUDIT_LOG, {"context": "application_name=pg_dump"})
    assert list(other.context["rows"]) == []


def test_the_context_panel_says_what_proves_what(root_client, etl_write: str) -> None:
    event = Events.objects.get(pgh_label="update")
    html = root_client.get(AUDIT_LOG, {"context_id": str(event.pgh_context_id)}).content.decode()
    assert "chosen by the client, proves nothing" in html
    assert "the database login role of the session" in html


def _rows(content: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content)))


def test_both_exports_have_session_columns(etl_write: str) -> None:
    header, *rows = csv_rows(Events.objects.all())
    by_column = [dict(zip(header, row, strict=True)) for row in rows]
    copied = _rows(b"".join(copy_chunks(Events.objects.all())).decode())
    for exported in (by_column, copied):
        update = next(row for row in exported if row["label"] == "update")
        assert update["db_role"] == etl_write
        assert update["application_name"] == "psql"
        assert update["client_addr"] in {"127.0.0.1", "::1", "local"}
        # Not repeated in the other metadata.
        assert update["context"] == ""
        insert = next(row for row in exported if row["label"] == "insert")
        assert (insert["db_role"], insert["application_name"]) == ("", "")


def test_application_names_cannot_inject_formulas(author: Author) -> None:
    with attributed(), login_role("etl") as role:
        psql_as(role, "UPDATE testapp_author SET name = 'x'", appname="=HYPERLINK(1)")
    header, *rows = csv_rows(Events.objects.filter(pgh_label="update"))
    copied = _rows(b"".join(copy_chunks(Events.objects.filter(pgh_label="update"))).decode())
    assert dict(zip(header, rows[0], strict=True))["application_name"] == "'=HYPERLINK(1)"
    assert copied[0]["application_name"] == "'=HYPERLINK(1)"
