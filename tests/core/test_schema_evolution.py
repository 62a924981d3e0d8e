"""History survives schema changes of tracked models (issue 6).

Every step edits the models of a throwaway app, then runs the real ``makemigrations`` and
``migrate`` in a fresh interpreter (models cannot change inside one process), writes through the
ORM, and reports what the database holds: the event rows, the triggers' source, pgtrigger's view
of the installed triggers and the admin pages of the history.
"""

from __future__ import annotations

import itertools
import os
import textwrap
from pathlib import Path

import pytest

import devdb
from tests.steps import run_step, server_sql

REPO = Path(__file__).resolve().parents[2]

SETTINGS = """
import os

import devdb

SECRET_KEY = "schema-evolution"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "evo_urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ALLOWED_HOSTS = ["*"]
# Writes outside a context record no database session, as in tests/settings.py.
PGHISTORY_ATTRIBUTE_OUTSIDE_WRITES = False
DATABASES = devdb.databases(url=os.environ["DATABASE_URL"])
DATABASES["default"]["NAME"] = os.environ["EVO_DB"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_filters",
    "django_tables2",
    "django_htmx",
    "pgtrigger",
    "pghistory_core",
    "pghistory_admin",
] + (["evoapp"] if os.environ.get("EVO_WITH_APP") == "1" else [])
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "pghistory_core.middleware.HistoryMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
"""

URLS = """
from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
"""

ADMIN = """
from django.contrib import admin

from pghistory_admin import HistoryAdminMixin

from evoapp import models

admin.site.register(models.Item, type("ItemAdmin", (HistoryAdminMixin, admin.ModelAdmin), {}))
"""

# One step: migrations, checks, writes, then everything the test asserts on, as JSON.
STEP = r"""
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

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from pgtrigger import installation, registry

spec = json.loads(sys.argv[1])
out = {}

if spec.get("makemigrations"):
    log = io.StringIO()
    call_command(
        "makemigrations", "evoapp", interactive=spec.get("interactive", False), stdout=log
    )
    out["makemigrations"] = log.getvalue()
if spec.get("migrate"):
    importlib.invalidate_caches()
    call_command("migrate", interactive=False, stdout=io.StringIO())

if spec.get("pgtrigger_install"):
    call_command("pgtrigger", "install")

if spec.get("superuser"):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw")

if spec.get("inspect", True):
    log = io.StringIO()
    try:
        call_command("makemigrations", check=True, dry_run=True, interactive=False, stdout=log)
        out["check_clean"] = True
    except SystemExit:
        out["check_clean"] = False
    out["check_output"] = log.getvalue()

    listing = io.StringIO()
    # (pgtrigger ls fails on max() of nothing when no trigger is registered or prunable.)
    if registry.registered() or installation.prunable():
        with contextlib.redirect_stdout(listing):
            call_command("pgtrigger", "ls")
    out["pgtrigger_ls"] = listing.getvalue()
    out["trigger_status"] = {
        trigger.get_uri(model): trigger.get_installation_status(model)[0]
        for model, trigger in registry.registered()
        if model._meta.app_label == "evoapp"
    }
    out["prunable"] = [f"{table}:{name}" for table, name, *_ in installation.prunable()]

if spec.get("write"):
    namespace = {"models": importlib.import_module("evoapp.models")}
    exec(spec["write"], namespace)

with connection.cursor() as cursor:
    cursor.execute(
        "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), p.prosrc "
        "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE NOT t.tgisinternal AND c.relname LIKE 'evoapp%%' ORDER BY 1, 2"
    )
    out["db_triggers"] = [
        {"table": table, "name": name, "sql": definition + "\n" + source}
        for table, name, definition, source in cursor.fetchall()
    ]
    cursor.execute(
        "SELECT tablename FROM pg_tables WHERE tablename LIKE 'evoapp%%' ORDER BY 1"
    )
    out["tables"] = [row[0] for row in cursor.fetchall()]
    out["rows"] = {}
    for table in out["tables"]:
        order = "pgh_id" if table.endswith("event") else "id"
        cursor.execute(f'SELECT * FROM "{table}" ORDER BY "{order}"')
        columns = [column.name for column in cursor.description]
        out["rows"][table] = [dict(zip(columns, row)) for row in cursor.fetchall()]

out["pages"] = {}
if spec.get("pages"):
    client = Client()
    client.force_login(get_user_model().objects.get(username="root"))
    for url in spec["pages"]:
        try:
            response = client.get(url)
        except Exception:
            out["pages"][url] = {"status": 500, "text": traceback.format_exc()}
            continue
        # The page's text, as one line of words: what a reader of the page sees.
        body = re.split(r"<body[^>]*>", response.content.decode(), maxsplit=1)[-1]
        body = re.sub(r"(?s)<script.*?</script>|<[^>]+>", " ", body)
        text = " ".join(html.unescape(body).split())
        out["pages"][url] = {"status": response.status_code, "text": text}

print("@@EVO@@" + json.dumps(out, default=str))
"""


def _admin_sql(*statements: str) -> None:
    server_sql(*statements)


_names = itertools.count()


class Project:
    """A Django project in a temporary directory with one app, ``evoapp``, on its own database."""

    def __init__(self, root: Path, database: str, with_app: bool = True) -> None:
        self.root = root
        self.database = database
        self.with_app = with_app
        (root / "evo_settings.py").write_text(SETTINGS)
        (root / "evo_urls.py").write_text(URLS)
        (root / "evo_step.py").write_text(STEP)
        if with_app:
            app = root / "evoapp"
            (app / "migrations").mkdir(parents=True)
            (app / "__init__.py").write_text("")
            (app / "migrations" / "__init__.py").write_text("")
            (app / "admin.py").write_text(ADMIN)

    @property
    def migrations(self) -> Path:
        return self.root / "evoapp" / "migrations"

    def write_models(self, source: str) -> None:
        (self.root / "evoapp" / "models.py").write_text(textwrap.dedent(source))

    def migration_files(self) -> list[Path]:
        return sorted(self.migrations.glob("0*.py"))

    def step(self, stdin: str | None = None, **spec) -> dict:
        env = {
            **os.environ,
            "DATABASE_URL": devdb.get_database_url(),
            "DJANGO_SETTINGS_MODULE": "evo_settings",
            "EVO_DB": self.database,
            "EVO_WITH_APP": "1" if self.with_app else "0",
            "PYTHONPATH": os.pathsep.join([str(self.root), str(REPO)]),
        }
        return run_step(self.root, "evo_step.py", spec, env, "@@EVO@@", timeout=120, stdin=stdin)


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    """A database with the contrib apps, pghistory's own migrations and a superuser."""
    name = f"evo_template_{os.getpid()}"
    _admin_sql(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    try:
        Project(tmp_path_factory.mktemp("template"), name, with_app=False).step(
            migrate=True, superuser=True, inspect=False
        )
        yield name
    finally:
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def project(tmp_path, template_db):
    name = f"evo_{os.getpid()}_{next(_names)}"
    _admin_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    try:
        yield Project(tmp_path, name)
    finally:
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


AUDIT_LOG = "/admin/pghistory_admin/auditlog/"
TIMELINE = "/admin/evoapp/item/1/history/"

V1 = """
import pghistory_core
from django.db import models


@pghistory_core.track(
    pghistory_core.InsertEvent(), pghistory_core.UpdateEvent(), pghistory_core.DeleteEvent()
)
class Item(models.Model):
    name = models.CharField(max_length=20)
    qty = models.IntegerField(default=0)
"""

SEED = """
Item = models.Item
item = Item.objects.create(name="apple", qty=4711)
Item.objects.filter(pk=item.pk).update(qty=4712)
Item.objects.filter(pk=item.pk).update(name="apricot")
"""


def pages(event_ids):
    """The admin pages of item 1's history: its timeline, the audit log, each event's diff."""
    return [TIMELINE, AUDIT_LOG, *(f"{AUDIT_LOG}{i}/diff/" for i in event_ids)]


def events(result, table="evoapp_itemevent"):
    return [
        {k: v for k, v in row.items() if k not in ("pgh_id", "pgh_created_at", "pgh_context_id")}
        for row in result["rows"][table]
    ]


def assert_in_sync(result):
    """makemigrations has nothing left to do and the database's triggers are the models'."""
    assert result["check_clean"], result["check_output"]
    assert result["trigger_status"], "no triggers registered"
    assert set(result["trigger_status"].values()) == {"INSTALLED"}, result["pgtrigger_ls"]
    assert "OUTDATED" not in result["pgtrigger_ls"]
    assert "UNINSTALLED" not in result["pgtrigger_ls"]
    assert not [uri for uri in result["prunable"] if "evoapp" in uri], result["prunable"]


def page(result, url):
    """The text of an admin page, which must have rendered."""
    response = result["pages"][url]
    assert response["status"] == 200, (url, response["text"][-3000:])
    return response["text"]


def assert_pages(result, timeline=(), audit_log=(), diffs=()):
    """Every page renders, and each shows the expected snippets of text."""
    for url in result["pages"]:
        page(result, url)
    for snippet in timeline:
        assert snippet in page(result, TIMELINE), snippet
    for snippet in audit_log:
        assert snippet in page(result, AUDIT_LOG), snippet
    for pgh_id, snippet in diffs:
        assert snippet in page(result, f"{AUDIT_LOG}{pgh_id}/diff/"), (pgh_id, snippet)


def trigger_sql(result):
    return "\n".join(trigger["sql"] for trigger in result["db_triggers"])


def seed(project, source=V1):
    """Item tracked by insert, update and delete triggers, with three events of history."""
    project.write_models(source)
    result = project.step(makemigrations=True, migrate=True, write=SEED)
    assert_in_sync(result)
    column = "label" if 'db_column="label"' in source else "name"
    assert events(result) == [
        {"pgh_label": "insert", "pgh_obj_id": 1, "id": 1, column: "apple", "qty": 4711},
        {"pgh_label": "update", "pgh_obj_id": 1, "id": 1, column: "apple", "qty": 4712},
        {"pgh_label": "update", "pgh_obj_id": 1, "id": 1, column: "apricot", "qty": 4712},
    ]
    project.event_ids = [row["pgh_id"] for row in result["rows"]["evoapp_itemevent"]]
    return project


@pytest.fixture
def tracked(project):
    return seed(project)


def test_adding_a_tracked_field(tracked):
    tracked.write_models(
        V1
        + """
    color = models.CharField(max_length=10, null=True)
    weight = models.IntegerField(default=7)
"""
    )
    result = tracked.step(
        makemigrations=True,
        migrate=True,
        write="""
models.Item.objects.filter(pk=1).update(color="red")
models.Item.objects.create(name="banana", color="yellow", weight=3)
""",
        pages=pages(tracked.event_ids),
    )
    migration = tracked.migration_files()[-1].read_text()
    assert "model_name='itemevent',\n            name='color'" in migration
    assert_in_sync(result)
    sql = trigger_sql(result)
    assert '_pgh_new."color"' in sql and '_pgh_new."weight"' in sql
    old = {"pgh_obj_id": 1, "id": 1, "color": None, "weight": 7}
    assert events(result) == [
        {**old, "pgh_label": "insert", "name": "apple", "qty": 4711},
        {**old, "pgh_label": "update", "name": "apple", "qty": 4712},
        {**old, "pgh_label": "update", "name": "apricot", "qty": 4712},
        {**old, "pgh_label": "update", "name": "apricot", "qty": 4712, "color": "red"},
        {
            "pgh_label": "insert",
            "pgh_obj_id": 2,
            "id": 2,
            "name": "banana",
            "qty": 0,
            "color": "yellow",
            "weight": 3,
        },
    ]
    first, second, third = tracked.event_ids
    assert_pages(
        result,
        timeline=[
            f"Created #{first} Initial values Field Value ID 1 Name apple Qty 4711 Color - Weight 7",
            f"Updated #{second} Field Before After Qty 4711 4712",
            f"Updated #{third} Field Before After Name apple apricot",
            "Field Before After Color - red",
        ],
        audit_log=[f"Item object (1) updated Qty #{second}", "Item object (2) created"],
        diffs=[(first, "Name apple Qty 4711"), (third, "Name apple apricot")],
    )


def test_renaming_a_tracked_field(tracked):
    tracked.write_models(V1.replace("name = ", "title = "))
    # makemigrations asks once, "Was item.name renamed to item.title?", and the answer also
    # applies to the event model's copy of the field. A second question (a one-off default for
    # a new itemevent.title column) would hit the end of input and fail the step.
    result = tracked.step(
        makemigrations=True,
        interactive=True,
        stdin="y\n",
        migrate=True,
        write="""
models.Item.objects.filter(pk=1).update(title="avocado")
models.Item.objects.create(title="banana")
""",
        pages=pages(tracked.event_ids),
    )
    assert result["makemigrations"].count("[y/N]") == 1, result["makemigrations"]
    migration = tracked.migration_files()[-1].read_text()
    assert "RemoveField" not in migration and "AddField" not in migration, migration
    assert (
        "model_name='itemevent',\n            old_name='name',\n            new_name='title'"
        in (migration)
    )
    assert_in_sync(result)
    sql = trigger_sql(result)
    assert '"title"' in sql and '"name"' not in sql
    old = {"pgh_obj_id": 1, "id": 1}
    assert events(result) == [
        {**old, "pgh_label": "insert", "title": "apple", "qty": 4711},
        {**old, "pgh_label": "update", "title": "apple", "qty": 4712},
        {**old, "pgh_label": "update", "title": "apricot", "qty": 4712},
        {**old, "pgh_label": "update", "title": "avocado", "qty": 4712},
        {"pgh_label": "insert", "pgh_obj_id": 2, "id": 2, "title": "banana", "qty": 0},
    ]
    first, _, third = tracked.event_ids
    assert_pages(
        result,
        timeline=[
            f"Created #{first} Initial values Field Value ID 1 Title apple Qty 4711",
            f"Updated #{third} Field Before After Title apple apricot",
            "Field Before After Title apricot avocado",
        ],
        audit_log=[f"Item object (1) updated Title #{third}"],
        diffs=[(first, "Title apple Qty 4711"), (third, "Title apple apricot")],
    )


def test_renaming_a_tracked_field_that_keeps_its_column(project):
    v1 = V1.replace("max_length=20)", 'max_length=20, db_column="label")')
    seed(project, v1)
    project.write_models(v1.replace("name = ", "title = "))
    # Here Django sees both renames itself and asks twice; the columns and triggers stay.
    result = project.step(
        makemigrations=True,
        interactive=True,
        stdin="y\ny\n",
        migrate=True,
        write='models.Item.objects.filter(pk=1).update(title="avocado")',
        pages=pages(project.event_ids),
    )
    assert result["makemigrations"].count("[y/N]") == 2, result["makemigrations"]
    migration = project.migration_files()[-1].read_text()
    assert migration.count("migrations.RenameField(") == 2, migration
    assert "Trigger" not in migration and "AlterField" not in migration, migration
    assert_in_sync(result)
    assert [(row["pgh_label"], row["label"]) for row in events(result)] == [
        ("insert", "apple"),
        ("update", "apple"),
        ("update", "apricot"),
        ("update", "avocado"),
    ]
    first, _, third = project.event_ids
    assert_pages(
        result,
        timeline=[
            f"Created #{first} Initial values Field Value ID 1 Title apple Qty 4711",
            "Field Before After Title apricot avocado",
        ],
        diffs=[(third, "Title apple apricot")],
    )


def test_removing_a_tracked_field(tracked):
    tracked.write_models(V1.replace("    qty = models.IntegerField(default=0)\n", ""))
    result = tracked.step(
        makemigrations=True,
        migrate=True,
        write="""
models.Item.objects.filter(pk=1).update(name="avocado")
models.Item.objects.create(name="banana")
models.Item.objects.filter(pk=2).delete()
""",
        pages=pages(tracked.event_ids),
    )
    assert_in_sync(result)
    assert '"qty"' not in trigger_sql(result)
    old = {"pgh_obj_id": 1, "id": 1}
    assert events(result) == [
        {**old, "pgh_label": "insert", "name": "apple"},
        {**old, "pgh_label": "update", "name": "apple"},
        {**old, "pgh_label": "update", "name": "apricot"},
        {**old, "pgh_label": "update", "name": "avocado"},
        {"pgh_label": "insert", "pgh_obj_id": 2, "id": 2, "name": "banana"},
        {"pgh_label": "delete", "pgh_obj_id": 2, "id": 2, "name": "banana"},
    ]
    first, second, third = tracked.event_ids
    assert_pages(
        result,
        # The event that only changed qty has nothing left to show, but it is still listed.
        timeline=[
            f"Created #{first} Initial values Field Value ID 1 Name apple",
            f"Updated #{second}",
            f"Updated #{third} Field Before After Name apple apricot",
            "Field Before After Name apricot avocado",
        ],
        audit_log=[f"Item object (1) updated Name #{third}", f"#{second}"],
        diffs=[(first, "Name apple"), (third, "Name apple apricot")],
    )


def test_changing_a_tracked_fields_type(tracked):
    tracked.write_models(
        V1.replace("max_length=20", "max_length=200").replace(
            "models.IntegerField(default=0)", "models.BigIntegerField(default=0)"
        )
    )
    result = tracked.step(
        makemigrations=True,
        migrate=True,
        write="""
models.Item.objects.filter(pk=1).update(qty=2**40, name="a" * 150)
models.Item.objects.create(name="banana", qty=-(2**40))
models.Item.objects.filter(pk=2).update(id=200)  # the row-level companion trigger's case
""",
        pages=pages(tracked.event_ids),
    )
    migration = tracked.migration_files()[-1].read_text()
    for model in ("item", "itemevent"):
        assert (
            f"model_name='{model}',\n            name='qty',\n            field=models.BigIntegerField"
            in (migration)
        )
        assert (
            f"model_name='{model}',\n            name='name',\n            field=models.CharField("
            in (migration)
        )
    assert result["check_clean"], result["check_output"]
    old = {"pgh_obj_id": 1, "id": 1}
    assert events(result) == [
        {**old, "pgh_label": "insert", "name": "apple", "qty": 4711},
        {**old, "pgh_label": "update", "name": "apple", "qty": 4712},
        {**old, "pgh_label": "update", "name": "apricot", "qty": 4712},
        {**old, "pgh_label": "update", "name": "a" * 150, "qty": 2**40},
        {"pgh_label": "insert", "pgh_obj_id": 2, "id": 2, "name": "banana", "qty": -(2**40)},
        {"pgh_label": "update", "pgh_obj_id": 200, "id": 200, "name": "banana", "qty": -(2**40)},
    ]
    first, _, third = tracked.event_ids
    assert_pages(
        result,
        timeline=[
            f"Created #{first} Initial values Field Value ID 1 Name apple Qty 4711",
            f"Qty 4712 {2**40}",
        ],
        diffs=[(first, "Name apple Qty 4711"), (third, "Name apple apricot")],
    )
    # Postgres refuses to alter the type of a column that a trigger's WHEN clause uses, and
    # django-pgtrigger's workaround re-creates such a trigger without its hash comment (shown
    # OUTDATED). The `_pk` companion's WHEN names only the primary key, so changing the type of
    # other tracked columns leaves every trigger in sync right after migrate.
    assert set(result["trigger_status"].values()) == {"INSTALLED"}, result["pgtrigger_ls"]
    assert_in_sync(result)


V1_UNTRACKED = """
from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=20)
    qty = models.IntegerField(default=0)
"""

UNTRACKED_WRITES = """
models.Item.objects.filter(pk=1).update(name="avocado")
models.Item.objects.create(name="banana")
"""


def test_untracking_drops_the_triggers_and_the_event_table(tracked):
    tracked.write_models(V1_UNTRACKED)
    result = tracked.step(
        makemigrations=True, migrate=True, write=UNTRACKED_WRITES, pages=[TIMELINE, AUDIT_LOG]
    )
    migration = tracked.migration_files()[-1].read_text()
    assert "migrations.DeleteModel(\n            name='ItemEvent'," in migration
    assert migration.count("RemoveTrigger(") == 4
    assert result["check_clean"], result["check_output"]
    assert result["trigger_status"] == {}
    assert not [uri for uri in result["prunable"] if "evoapp" in uri]
    assert result["db_triggers"] == []
    assert result["tables"] == ["evoapp_item"]
    assert [row["name"] for row in result["rows"]["evoapp_item"]] == ["avocado", "banana"]
    assert "No history has been recorded for this object." in page(result, TIMELINE)
    # With no event model left the audit log has nothing to show anyone, and says so as it does
    # to users without permission on any tracked model (403); what matters is no server error.
    assert result["pages"][AUDIT_LOG]["status"] in (200, 403)


def test_untracking_with_an_explicit_event_model_keeps_the_history(tracked):
    # The event model stays, declared explicitly, with a tracker that installs no trigger.
    tracked.write_models(
        V1_UNTRACKED
        + """

import pghistory_core


class ItemEvent(pghistory_core.create_event_model(Item, pghistory_core.ManualEvent("snapshot"))):
    pass
"""
    )
    result = tracked.step(
        makemigrations=True,
        migrate=True,
        write=UNTRACKED_WRITES
        + """
pghistory_core = __import__("pghistory_core")
pghistory_core.create_event(models.Item.objects.get(pk=1), label="snapshot")
""",
        pages=pages(tracked.event_ids),
    )
    migration = tracked.migration_files()[-1].read_text()
    assert migration.count("RemoveTrigger(") == 4
    assert "DeleteModel" not in migration and "Field" not in migration, migration
    assert result["check_clean"], result["check_output"]
    assert result["trigger_status"] == {}
    assert not [uri for uri in result["prunable"] if "evoapp" in uri]
    assert result["db_triggers"] == []
    old = {"pgh_obj_id": 1, "id": 1}
    assert events(result) == [
        {**old, "pgh_label": "insert", "name": "apple", "qty": 4711},
        {**old, "pgh_label": "update", "name": "apple", "qty": 4712},
        {**old, "pgh_label": "update", "name": "apricot", "qty": 4712},
        {**old, "pgh_label": "snapshot", "name": "avocado", "qty": 4712},
    ]
    first, second, third = tracked.event_ids
    assert_pages(
        result,
        timeline=[
            f"Created #{first} Initial values Field Value ID 1 Name apple Qty 4711",
            f"Updated #{second} Field Before After Qty 4711 4712",
            f"Updated #{third} Field Before After Name apple apricot",
            "Field Before After Name apricot avocado",
        ],
        audit_log=[f"Item object (1) updated Name #{third}"],
        diffs=[(first, "Name apple Qty 4711"), (third, "Name apple apricot")],
    )
