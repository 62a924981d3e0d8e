"""One step of the throwaway project, run in a fresh interpreter; prints what it saw as JSON.

``python step.py '{"makemigrations": true, "migrate": true, "write": "...", ...}'``
"""

import contextlib
import html
import importlib
import io
import json
import re
import sys
import traceback

import django

django.setup()

import pgtrigger  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError  # noqa: E402
from django.db import connection  # noqa: E402

spec = json.loads(sys.argv[1])
out: dict = {}
CORE = settings.SIDE != "3x"


def _rows(cursor, sql, params=None):
    cursor.execute(sql, params)
    columns = [column.name for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def snapshot():
    """Everything the switch may touch, read with SQL (the same on both sides)."""
    result = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') "
            "AND relname LIKE 'shop\\_%%event' ORDER BY 1"
        )
        tables = [row[0] for row in cursor.fetchall()]
        result["events"] = {
            table: _rows(cursor, f'SELECT * FROM "{table}" ORDER BY pgh_id') for table in tables
        }
        result["oids"] = {
            table: _rows(cursor, "SELECT %s::regclass::oid AS oid", [table])[0]["oid"]
            for table in tables
        }
        for name, table in (
            ("legacy_contexts", "pghistory_context"),
            ("contexts", "pghistory_core_context"),
        ):
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
            exists = cursor.fetchone()[0]
            result[name] = _rows(cursor, f"SELECT * FROM {table} ORDER BY id") if exists else None
        result["triggers"] = _rows(
            cursor,
            "SELECT c.relname AS table, t.tgname AS name, p.prosrc AS source "
            "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE NOT t.tgisinternal AND c.relname LIKE 'shop%%' ORDER BY 1, 2",
        )
        result["functions"] = sorted(
            row["proname"]
            for row in _rows(
                cursor,
                "SELECT proname FROM pg_proc WHERE proname LIKE 'pgtrigger\\_%%' "
                "OR proname LIKE '\\_pgh\\_%%'",
            )
        )
        cursor.execute("SELECT to_regclass('pghistory_core_event_id_seq') IS NOT NULL")
        if cursor.fetchone()[0]:
            result["sequence"] = _rows(
                cursor, "SELECT last_value, is_called FROM pghistory_core_event_id_seq"
            )[0]
    return result


def page_text(client, url):
    try:
        response = client.get(url)
    except Exception:
        return {"status": 500, "text": traceback.format_exc()}
    body = re.split(r"<body[^>]*>", response.content.decode(), maxsplit=1)[-1]
    body = re.sub(r"(?s)<script.*?</script>|<[^>]+>", " ", body)
    return {"status": response.status_code, "text": " ".join(html.unescape(body).split())}


def inspect():
    """What pghistory_core shows of the history: event models, Events, the admin."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from pgtrigger import registry

    from pghistory_core.models import Events

    shop = importlib.import_module("shop.models")
    result = {"models": {}}
    for name in ("ProductEvent", "ProductPriceEvent"):
        model = getattr(shop, name)
        result["models"][name] = [
            {
                "pgh_id": event.pgh_id,
                "pgh_created_at": event.pgh_created_at.isoformat(),
                "pgh_label": event.pgh_label,
                "pgh_obj_id": event.pgh_obj_id,
                "pgh_data": event.pgh_data,
                "pgh_context_id": event.pgh_context_id,
                "context_metadata": event.pgh_context.metadata if event.pgh_context else None,
            }
            for event in model.objects.select_related("pgh_context").order_by("pgh_id")
        ]
    result["aggregate"] = [
        {
            "pgh_id": event.pgh_id,
            "pgh_model": event.pgh_model,
            "pgh_created_at": event.pgh_created_at.isoformat(),
            "pgh_label": event.pgh_label,
            "pgh_obj_id": event.pgh_obj_id,
            "pgh_data": event.pgh_data,
            "pgh_diff": event.pgh_diff,
            "pgh_context_id": event.pgh_context_id,
            "pgh_context_metadata": event.pgh_context_metadata,
        }
        for event in Events.objects.order_by("pgh_id")
    ]
    log = io.StringIO()
    try:
        call_command("makemigrations", check=True, dry_run=True, interactive=False, stdout=log)
        result["check_clean"] = True
    except SystemExit:
        result["check_clean"] = False
    result["check_output"] = log.getvalue()
    result["trigger_status"] = {
        trigger.get_uri(model): trigger.get_installation_status(model)[0]
        for model, trigger in registry.registered()
        if model._meta.app_label == "shop"
    }
    user_model = get_user_model()
    if not user_model.objects.filter(username="root").exists():
        user_model.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user_model.objects.get(username="root"))
    result["pages"] = {url: page_text(client, url) for url in spec.get("pages", [])}
    return result


if spec.get("adopt_before"):
    out["adopt_before"] = []
    for args in spec["adopt_before"]:
        log = io.StringIO()
        try:
            call_command("pghistory_adopt_3x", *args, stdout=log)
            out["adopt_before"].append({"ok": True, "out": log.getvalue()})
        except CommandError as error:
            out["adopt_before"].append({"ok": False, "out": log.getvalue(), "error": str(error)})
if spec.get("makemigrations"):
    log = io.StringIO()
    call_command("makemigrations", interactive=False, stdout=log)
    out["makemigrations"] = log.getvalue()
if spec.get("migrate"):
    importlib.invalidate_caches()
    log = io.StringIO()
    call_command("migrate", interactive=False, stdout=log)
    out["migrate"] = log.getvalue()
if spec.get("before_actions"):
    out["before_actions"] = snapshot()
# After migrate: SQL statements and runs of pghistory_adopt_3x, each followed by a snapshot.
out["actions"] = []
for action in spec.get("actions", []):
    log = io.StringIO()
    result = {"ok": True}
    if "sql" in action:
        # "ignore": triggers lifted for these statements (the suite's role owns the tables).
        ignored = action.get("ignore", [])
        # pgtrigger.ignore() without arguments would lift every trigger.
        lifted = pgtrigger.ignore(*ignored) if ignored else contextlib.nullcontext()
        with lifted, connection.cursor() as cursor:
            for statement in action["sql"]:
                cursor.execute(statement)
    else:
        try:
            call_command("pghistory_adopt_3x", *action["adopt"], stdout=log)
        except CommandError as error:
            result = {"ok": False, "error": str(error)}
    result["out"] = log.getvalue()
    result["snapshot"] = snapshot()
    out["actions"].append(result)
if spec.get("write"):
    exec(spec["write"], {"shop": importlib.import_module("shop.models")})  # noqa: S102
if spec.get("legacy_aggregate"):
    from pghistory.models import Events as LegacyEvents

    out["legacy_aggregate"] = [
        {
            "pgh_model": event.pgh_model,
            "pgh_id": event.pgh_id,
            "pgh_label": event.pgh_label,
            "pgh_obj_id": event.pgh_obj_id,
            "pgh_data": event.pgh_data,
            "pgh_diff": event.pgh_diff,
            "pgh_context_id": event.pgh_context_id,
            "pgh_context": event.pgh_context,
        }
        for event in LegacyEvents.objects.order_by("pgh_model", "pgh_id")
    ]
out["snapshot"] = snapshot()
if CORE and spec.get("inspect"):
    out["inspect"] = inspect()

print("@@STEP@@" + json.dumps(out, default=str))
