"""A price changed from ``psql`` by a database role of its own, as a nightly job would.

Such a write opens no ``context()``: the database records its session instead (login role,
``application_name``, client address), and the audit log shows it "via psql as role shop_etl".
The role is created when the demo's database user may create roles (the embedded server's
superuser may); otherwise the demo's own role writes, from psql all the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

from django.apps import apps
from django.db import connection

from example_project.shop.models import Product
from example_project.shop.seeding.timeline import backdate, last_event_id

__all__ = ["ETL_ROLE", "run"]

#: The login role of the nightly price import.
ETL_ROLE = "shop_etl"
#: What it may do: change products (their events and contexts are written by the triggers).
_GRANTS = (
    f"GRANT USAGE ON SCHEMA public TO {ETL_ROLE}",
    f"GRANT SELECT, UPDATE ON shop_product TO {ETL_ROLE}",
    f"GRANT INSERT ON shop_productevent TO {ETL_ROLE}",
    f"GRANT SELECT, INSERT ON pghistory_core_context TO {ETL_ROLE}",
    f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {ETL_ROLE}",
)


def psql_binary() -> str | None:
    """The psql bundled with the embedded server, or one on the PATH."""
    try:
        import pgserver
    except ImportError:
        bundled = None
    else:
        bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
    if bundled is not None and bundled.exists():
        return str(bundled)
    return shutil.which("psql")


def _ensure_role() -> bool:
    """Create the role (once per server) and grant it what it needs; False if not allowed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        row = cursor.fetchone()
        if not (row and row[0]):
            return False
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ETL_ROLE])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {ETL_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        for grant in _GRANTS:
            cursor.execute(grant)
    return True


def _psql(psql: str, sql: str, *, as_role: bool) -> bool:
    settings = connection.settings_dict
    env = {
        **os.environ,
        "PGHOST": settings["HOST"] or "localhost",
        "PGPORT": str(settings["PORT"] or 5432),
        "PGDATABASE": settings["NAME"],
        "PGUSER": ETL_ROLE if as_role else settings["USER"],
        "PGAPPNAME": "psql",
    }
    env.pop("PGPASSWORD", None)
    if not as_role and settings["PASSWORD"]:
        env["PGPASSWORD"] = settings["PASSWORD"]
    done = subprocess.run(  # noqa: S603 -- our psql, our SQL
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=env,
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def run(when: datetime) -> Product | None:
    """Raise a tea's price by 10 % from psql, at ``when``; the product, or None if not done."""
    psql = psql_binary()
    product = Product.objects.filter(category__name="Tea").order_by("-pk").first()
    if psql is None or product is None:
        return None
    before = last_event_id()
    sql = f"UPDATE shop_product SET price = round(price * 1.10, 2) WHERE id = {int(product.pk)}"
    # As the role when possible, else as the demo's own role.
    done = (_ensure_role() and _psql(psql, sql, as_role=True)) or _psql(psql, sql, as_role=False)
    if not done:
        return None
    event = (
        apps.get_model("shop", "ProductEvent")
        .objects.filter(pgh_id__gt=before)
        .order_by("pgh_id")
        .last()
    )
    if event is None:
        return None
    contexts = {str(event.pgh_context_id): when} if event.pgh_context_id else {}
    backdate(before, [last_event_id()], [when], contexts)
    product.refresh_from_db()
    return product
