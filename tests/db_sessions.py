"""Writes made outside Django in tests: real login roles writing through the psql binary."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from django.test import override_settings

from pghistory_core import sql
from tests.core.test_other_clients import _psql, _psql_env
from tests.core.test_roles import _admin, _drop_role, _new_role

__all__ = ["attributed", "install", "login_role", "psql_as"]


def install(**settings: bool) -> None:
    """(Re)create the context functions as ``outside_writes`` and ``client_addr`` say."""
    names = {"outside_writes": "ATTRIBUTE_OUTSIDE_WRITES", "client_addr": "ATTRIBUTE_CLIENT_ADDR"}
    with override_settings(**{f"PGHISTORY_{names[key]}": value for key, value in settings.items()}):
        sql.install_functions("default")


@contextmanager
def attributed() -> Iterator[None]:
    """The functions as the defaults make them (the test settings switch attribution off)."""
    install(outside_writes=True, client_addr=True)
    try:
        yield
    finally:
        sql.install_functions("default")


@contextmanager
def login_role(kind: str) -> Iterator[str]:
    """A login role with DML on every table and the sequences, owner of nothing."""
    role = _new_role(kind)
    _admin(
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    )
    try:
        yield role
    finally:
        _drop_role(role)


def psql_as(role: str, sql_text: str, appname: str | None = None) -> None:
    """Run ``sql_text`` with the psql binary, logged in as ``role``."""
    env = {**_psql_env(), "PGUSER": role}
    if appname is not None:
        env["PGAPPNAME"] = appname
    subprocess.run(
        [_psql(), "-v", "ON_ERROR_STOP=1", "-c", sql_text], env=env, check=True, capture_output=True
    )
