"""Changes made outside Django (psql, another service) are recorded too."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from tests.testapp.models import Author, AuthorEvent

pytestmark = pytest.mark.django_db(transaction=True)


def _psql() -> str:
    # pgserver ships psql next to its server; a system psql works as well.
    import pgserver

    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
    found = str(bundled) if bundled.exists() else shutil.which("psql")
    assert found, "no psql binary found"
    return found


def _psql_env() -> dict[str, str]:
    settings = connection.settings_dict
    return {
        **os.environ,
        "PGHOST": settings["HOST"] or "localhost",
        "PGPORT": str(settings["PORT"] or 5432),
        "PGUSER": settings["USER"],
        "PGPASSWORD": settings["PASSWORD"] or "",
        "PGDATABASE": settings["NAME"],
    }


def test_psql_session_changes_are_recorded():
    author = Author.objects.create(name="before")
    env = _psql_env()
    sql = (
        f"UPDATE testapp_author SET name = 'from psql' WHERE id = {author.pk};"
        "INSERT INTO testapp_author (name, email) VALUES ('psql insert', '');"
        f"DELETE FROM testapp_author WHERE id = {author.pk};"
    )
    subprocess.run(
        [_psql(), "-v", "ON_ERROR_STOP=1", "-c", sql], env=env, check=True, capture_output=True
    )
    rows = list(AuthorEvent.objects.order_by("pgh_id").values_list("pgh_label", "name"))
    assert rows == [
        ("insert", "before"),
        ("update", "from psql"),
        ("insert", "psql insert"),
        ("delete", "from psql"),
    ]
