"""Helpers of the tests that run a project in a subprocess on a database of their own."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import devdb


def driver() -> Any:
    """Whichever PostgreSQL driver this environment has."""
    try:
        return importlib.import_module("psycopg")
    except ImportError:  # pragma: no cover - psycopg2-only environments
        return importlib.import_module("psycopg2")


def server_sql(*statements: str, database: str | None = None) -> None:
    """Run ``statements`` in autocommit on the test server (``database``: the URL's by default),
    e.g. to create or drop databases."""
    options = {} if database is None else {"dbname": database}
    conn = driver().connect(devdb.get_database_url(), **options)
    try:
        conn.autocommit = True
        cursor = conn.cursor()
        for statement in statements:
            cursor.execute(statement)
    finally:
        conn.close()


def run_step(
    root: Path,
    script: str,
    spec: dict[str, Any],
    env: dict[str, str],
    marker: str,
    timeout: int,
    stdin: str | None = None,
) -> dict[str, Any]:
    """Run ``script`` in ``root`` with ``spec`` as JSON; returns the JSON it prints after ``marker``."""
    run = subprocess.run(
        [sys.executable, script, json.dumps(spec)],
        cwd=root,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    found = run.stdout.rindex(marker)
    return json.loads(run.stdout[found + len(marker) :])
