"""PGHISTORY_ADMIN_DATABASE routes the history pages' reads (e.g. to a replica)."""

import csv
import io

import pytest

from tests.testapp.models import Author

pytestmark = pytest.mark.django_db(databases=["default", "other"])

URL = "/admin/pghistory_admin/auditlog/"


def test_audit_log_and_export_read_the_configured_alias(root_client, settings):
    Author.objects.using("default").create(name="on primary")
    Author.objects.using("other").create(name="on replica")

    def names(response):
        return {row.event.pgh_data["name"] for row in response.context["rows"]}

    assert names(root_client.get(URL)) == {"on primary"}
    settings.PGHISTORY_ADMIN_DATABASE = "other"
    assert names(root_client.get(URL)) == {"on replica"}
    export = root_client.get(URL + "export/")
    body = b"".join(export.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert ["on replica" in row["data"] for row in rows] == [True]


def test_object_history_reads_the_configured_alias(root_client, settings):
    primary = Author.objects.using("default").create(name="same id")
    Author.objects.using("other").create(pk=primary.pk, name="replica copy")
    settings.PGHISTORY_ADMIN_DATABASE = "other"
    response = root_client.get(f"/admin/testapp/author/{primary.pk}/history/")
    assert response.status_code == 200
    assert "replica copy" in response.content.decode()
