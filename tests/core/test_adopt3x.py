"""Switching from django-pghistory 3.x keeps the history (issue 12).

The real django-pghistory 3.x records history in a throwaway project (``tests/compat3x``): its own
``makemigrations`` and ``migrate``, inserts, updates, deletes, nested contexts and a field-subset
tracker. The project then switches exactly as the README says (``pghistory`` replaced by
``pghistory_core`` in the models and ``INSTALLED_APPS``, ``makemigrations``, ``migrate``,
``pghistory_adopt_3x``), and what pghistory_core shows is compared with what 3.x wrote. Each
step runs in a fresh interpreter on a database of its own.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

import devdb
from tests.steps import run_step, server_sql

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "tests" / "compat3x"

# Written through django-pghistory 3.x (pghistory is importable in that interpreter only).
SEED = """
import pghistory
Product = shop.Product
with pghistory.context(user=7, url="/checkout/"):
    a = Product.objects.create(sku="A-1", price="10.00", stock=3, note="first")
    with pghistory.context(reason="reprice"):
        a.price = "12.00"
        a.save()
    Product.objects.filter(pk=a.pk).update(stock=2)
b = Product.objects.create(sku="B-2", price="5.00")
with pghistory.context(url="/admin/shop/product/2/delete/"):
    b.delete()
with pghistory.context(task="nightly"):
    Product.objects.filter(pk=a.pk).update(price="11.50", note="it's <b>50%</b> off")
Product.objects.create(sku="C-3", price="1.00")
Product.objects.filter(sku__in=["A-1", "C-3"]).update(stock=9)
"""

# Written through pghistory_core after the switch.
AFTER = """
import pghistory_core
Product = shop.Product
with pghistory_core.context(user=8, url="/after/"):
    Product.objects.filter(sku="A-1").update(price="13.00")
    Product.objects.create(sku="D-4", price="4.00")
"""

OBJECT_HISTORY = "/admin/shop/product/1/history/"
DELETED_HISTORY = "/admin/shop/product/2/history/"
AUDIT_LOG = "/admin/pghistory_admin/auditlog/"
PAGES = [OBJECT_HISTORY, DELETED_HISTORY, AUDIT_LOG]

_names = itertools.count()


def _sql(*statements: str) -> None:
    server_sql(*statements, database="postgres")


class Project:
    """The project's files in a directory and its database; ``step()`` runs ``step.py``."""

    def __init__(self, root: Path, database: str) -> None:
        self.root = root
        self.database = database

    @classmethod
    def create(cls, root: Path, database: str) -> Project:
        shutil.copytree(TEMPLATE, root, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
        (root / "shop" / "__init__.py").write_text("")
        (root / "shop" / "migrations").mkdir()
        (root / "shop" / "migrations" / "__init__.py").write_text("")
        (root / "shop" / "models_3x.py").rename(root / "shop" / "models.py")
        return cls(root, database)

    def copy(self, root: Path, database: str) -> Project:
        shutil.copytree(self.root, root, ignore=shutil.ignore_patterns("__pycache__"))
        return Project(root, database)

    def switch_sources(self) -> None:
        """What the user does by hand: ``pghistory`` becomes ``pghistory_core`` in the code."""
        models = self.root / "shop" / "models.py"
        models.write_text(re.sub(r"\bpghistory\b", "pghistory_core", models.read_text()))

    def step(self, side: str, env: dict | None = None, **spec) -> dict:
        env = {
            **os.environ,
            **(env or {}),
            "DATABASE_URL": devdb.get_database_url(),
            "DJANGO_SETTINGS_MODULE": "settings",
            "COMPAT_DB": self.database,
            "SIDE": side,
            "PYTHONPATH": os.pathsep.join([str(self.root), str(REPO)]),
        }
        return run_step(self.root, "step.py", spec, env, "@@STEP@@", timeout=180)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    """A database django-pghistory 3.x migrated and wrote history to, and what it holds."""
    name = f"compat3x_template_{os.getpid()}"
    _sql(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    try:
        project = Project.create(tmp_path_factory.mktemp("compat3x") / "project", name)
        result = project.step(
            "3x", makemigrations=True, migrate=True, write=SEED, legacy_aggregate=True
        )
        yield project, result
    finally:
        _sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def project(tmp_path, legacy):
    """A copy of the 3.x project and its database, with the sources switched to pghistory_core."""
    template, _ = legacy
    name = f"compat3x_{os.getpid()}_{next(_names)}"
    _sql(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"')
    try:
        copy = template.copy(tmp_path / "project", name)
        copy.switch_sources()
        yield copy
    finally:
        _sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def switch(project: Project, **spec) -> dict:
    """``makemigrations`` and ``migrate`` with pghistory_core installed, then ``spec``'s actions."""
    return project.step("core", makemigrations=True, migrate=True, **spec)


def legacy_trigger_sql(legacy_result: dict) -> list[str]:
    """A 3.x trigger that outlived the switch: 3.x's own update function, under another name.

    (What a project that installed 3.x's triggers outside migrations, e.g. with
    ``PGTRIGGER_MIGRATIONS = False``, still has after migrating.)
    """
    source = next(
        trigger["source"]
        for trigger in legacy_result["snapshot"]["triggers"]
        if trigger["name"].startswith("pgtrigger_update_update_")
    )
    assert "_pgh_attach_context()" in source
    return [
        f"CREATE FUNCTION pgtrigger_legacy_update_00000() RETURNS TRIGGER AS $pgh${source}$pgh$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER pgtrigger_legacy_update_00000 AFTER UPDATE ON shop_product "
        "FOR EACH ROW EXECUTE FUNCTION pgtrigger_legacy_update_00000()",
    ]


def untouched(snapshot: dict) -> dict:
    """The parts of a snapshot the switch must not change (event rows are compared apart)."""
    return {key: snapshot[key] for key in ("events", "oids", "legacy_contexts")}


def number(value):
    return None if value is None else Decimal(str(value))


def normalized_diff(diff: dict | None) -> dict | None:
    """A diff with numbers compared as decimals (3.x's JSON has 12.0 where ours has "12.00").

    An event that changed no tracked field (a delete) has the diff ``None`` in 3.x and ``{}``
    here: both say "nothing changed".
    """
    if not diff:
        return None
    result = {}
    for key, (old, new) in diff.items():
        if key in ("price",):
            old, new = number(old), number(new)
        result[key] = [old, new]
    return result


def test_switch_keeps_every_event_context_and_diff(project, legacy):
    _, before = legacy
    legacy_snapshot = before["snapshot"]
    # Sanity of the 3.x history: six product events with four contexts, a subset model.
    assert [row["pgh_label"] for row in legacy_snapshot["events"]["shop_productevent"]] == [
        "insert",
        "update",
        "update",
        "insert",
        "delete",
        "update",
        "insert",
        "update",
        "update",
    ]
    assert [row["pgh_label"] for row in legacy_snapshot["events"]["shop_productpriceevent"]] == [
        "price_changed",
        "price_changed",
    ]
    # (Raw SQL reads jsonb as its text, which is canonical: equal text, equal value.)
    legacy_contexts = {
        str(c["id"]): json.loads(c["metadata"]) for c in legacy_snapshot["legacy_contexts"]
    }
    assert {"url": "/checkout/", "user": 7, "reason": "reprice"} in legacy_contexts.values()

    result = project.step(
        "core",
        adopt_before=[[]],
        makemigrations=True,
        migrate=True,
        before_actions=True,
        actions=[{"adopt": ["--dry-run"]}, {"adopt": []}],
        write=AFTER,
        inspect=True,
        pages=PAGES,
    )

    # Before migrate, the command says what to run first and changes nothing.
    assert not result["adopt_before"][0]["ok"]
    assert "makemigrations" in result["adopt_before"][0]["error"]

    # The event tables were altered in place: same tables, same rows, pgh_id off the sequence.
    made = result["makemigrations"]
    assert "Alter field pgh_id on productevent" in made
    assert "Alter field pgh_id on productpriceevent" in made
    assert "Create model" not in made and "Delete model" not in made, made
    adopted = result["actions"][1]["snapshot"]
    assert result["actions"][1]["ok"], result["actions"][1]
    assert untouched(adopted) == untouched(legacy_snapshot)

    # Contexts: the same ids, timestamps and metadata.
    assert result["before_actions"]["contexts"] == []
    assert adopted["contexts"] == legacy_snapshot["legacy_contexts"]
    report = result["actions"][1]["out"]
    # 3.x numbered each table from 1: the shared ids are reported and kept.
    assert (
        "2 pgh_id value(s) are held by more than one event table "
        "(shop_productevent, shop_productpriceevent)" in report
    )
    assert f"copied {len(legacy_contexts)} to pghistory_core_context, 0 already there" in report

    inspected = result["inspect"]
    assert inspected["check_clean"], inspected["check_output"]
    assert set(inspected["trigger_status"].values()) == {"INSTALLED"}, inspected

    # Every old event, through the event models: all columns and its context.
    for name, table in (
        ("ProductEvent", "shop_productevent"),
        ("ProductPriceEvent", "shop_productpriceevent"),
    ):
        rows = legacy_snapshot["events"][table]
        seen = inspected["models"][name][: len(rows)]
        for row, event in zip(rows, seen, strict=True):
            assert event["pgh_id"] == row["pgh_id"]
            assert event["pgh_label"] == row["pgh_label"]
            assert event["pgh_obj_id"] == row["pgh_obj_id"]
            tracked = {k: v for k, v in row.items() if not k.startswith("pgh_")}
            assert {k: str(v) for k, v in event["pgh_data"].items()} == {
                k: str(v) for k, v in tracked.items()
            }
            context = row["pgh_context_id"]
            assert event["pgh_context_id"] == context
            expected = legacy_contexts[context] if context else None
            assert event["context_metadata"] == expected

    # ...and through Events: the same data, context metadata and diffs as 3.x's own Events.
    legacy_events = {(e["pgh_model"], e["pgh_id"]): e for e in before["legacy_aggregate"]}
    old = [e for e in inspected["aggregate"] if (e["pgh_model"], e["pgh_id"]) in legacy_events]
    assert len(old) == len(legacy_events) == 11
    for event in old:
        theirs = legacy_events[event["pgh_model"], event["pgh_id"]]
        assert event["pgh_label"] == theirs["pgh_label"]
        assert event["pgh_obj_id"] == str(theirs["pgh_obj_id"])
        assert event["pgh_context_id"] == theirs["pgh_context_id"]
        assert event["pgh_context_metadata"] == theirs["pgh_context"]
        assert normalized_diff(event["pgh_diff"]) == normalized_diff(theirs["pgh_diff"]), event

    # New events take ids after the old ones and reference their new context; the first one's
    # diff reaches back to the last event 3.x recorded for the object.
    largest_old = max(e["pgh_id"] for e in old)
    new = [e for e in inspected["aggregate"] if e not in old]
    assert len(new) == 3  # update (both models) and insert
    assert all(e["pgh_id"] > largest_old for e in new)
    assert {json.dumps(e["pgh_context_metadata"], sort_keys=True) for e in new} == {
        json.dumps({"url": "/after/", "user": 8}, sort_keys=True)
    }
    update = next(
        e for e in new if e["pgh_model"] == "shop.ProductEvent" and e["pgh_label"] == "update"
    )
    assert normalized_diff(update["pgh_diff"]) == {"price": [Decimal("11.50"), Decimal("13.00")]}
    price = next(e for e in new if e["pgh_model"] == "shop.ProductPriceEvent")
    assert normalized_diff(price["pgh_diff"]) == {"price": [Decimal("11.50"), Decimal("13.00")]}

    # The admin renders them: the object's history, a deleted object's, the audit log.
    pages = inspected["pages"]
    for url in PAGES:
        assert pages[url]["status"] == 200, (url, pages[url]["text"][-3000:])
    history = pages[OBJECT_HISTORY]["text"]
    for snippet in (
        "Created by deleted user #7 via /checkout/",
        "Price 10.00 12.00",
        "Note first it's <b>50%</b> off",
        "Price 11.50 13.00",
        "by deleted user #8 via /after/",
    ):
        assert snippet in history, (snippet, history)
    assert "delete" in pages[DELETED_HISTORY]["text"].lower()
    assert "/admin/shop/product/2/delete/" in pages[DELETED_HISTORY]["text"]
    assert "/checkout/" in pages[AUDIT_LOG]["text"] and "/after/" in pages[AUDIT_LOG]["text"]


def test_running_the_switch_twice_changes_nothing_the_second_time(project, legacy):
    _, before = legacy
    result = switch(project, actions=[{"adopt": []}, {"adopt": []}])
    first, second = result["actions"]
    assert first["ok"] and second["ok"], result["actions"]
    assert "Nothing to do" not in first["out"]
    assert "Nothing to do: this database was adopted already." in second["out"]
    assert "copied 0 to pghistory_core_context" in second["out"]
    assert second["snapshot"] == first["snapshot"]
    assert first["snapshot"]["contexts"] == before["snapshot"]["legacy_contexts"]


def test_dry_run_reports_and_changes_nothing(project, legacy):
    _, before = legacy
    contexts = len(before["snapshot"]["legacy_contexts"])
    result = switch(
        project,
        actions=[{"sql": legacy_trigger_sql(before)}, {"adopt": ["--dry-run"]}],
    )
    installed, dry = result["actions"]
    assert dry["ok"], dry
    assert dry["out"].startswith("Dry run: nothing was changed.")
    assert f"would copy {contexts} to pghistory_core_context" in dry["out"]
    assert "would drop pgtrigger_legacy_update_00000 ON shop_product" in dry["out"]
    assert dry["snapshot"] == installed["snapshot"]


def test_leftover_3x_trigger_is_dropped(project, legacy):
    _, before = legacy
    result = switch(
        project,
        actions=[{"sql": legacy_trigger_sql(before)}, {"adopt": []}],
        write="shop.Product.objects.filter(sku='C-3').update(stock=1)",
    )
    adopted = result["actions"][1]
    assert "dropped pgtrigger_legacy_update_00000 ON shop_product" in adopted["out"]
    names = [t["name"] for t in adopted["snapshot"]["triggers"]]
    assert "pgtrigger_legacy_update_00000" not in names
    assert "pgtrigger_legacy_update_00000" not in adopted["snapshot"]["functions"]
    # One update, one event (the leftover trigger would have written a second one).
    events = result["snapshot"]["events"]["shop_productevent"]
    assert len(events) == len(before["snapshot"]["events"]["shop_productevent"]) + 1


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        pytest.param(
            # A context of pghistory_core with the id of a 3.x context but other metadata.
            lambda legacy_ids: [
                "INSERT INTO pghistory_core_context (id, created_at, updated_at, metadata) "
                f"VALUES ('{legacy_ids[0]}', now(), now(), '{{\"user\": 666}}')"
            ],
            "with other metadata",
            id="conflicting-context",
        ),
        pytest.param(
            # The database refuses one of the copied rows (a constraint), after triggers were
            # dropped in the same transaction.
            lambda legacy_ids: [
                "ALTER TABLE pghistory_core_context ADD CONSTRAINT no_checkout "
                "CHECK (metadata->>'url' IS DISTINCT FROM '/checkout/')"
            ],
            "no_checkout",
            id="constraint",
        ),
    ],
)
def test_a_failure_halfway_rolls_everything_back(project, legacy, failure, message):
    _, before = legacy
    legacy_ids = sorted(str(c["id"]) for c in before["snapshot"]["legacy_contexts"])
    result = switch(
        project,
        actions=[
            {"sql": [*legacy_trigger_sql(before), *failure(legacy_ids)]},
            {"adopt": []},
            {
                "sql": [
                    "ALTER TABLE pghistory_core_context DROP CONSTRAINT IF EXISTS no_checkout",
                    "DELETE FROM pghistory_core_context WHERE metadata = '{\"user\": 666}'",
                ],
                # Contexts that events are attributed to are guarded; the owner may lift it.
                "ignore": ["pghistory_core.Context:context_guard"],
            },
            {"adopt": []},
        ],
    )
    prepared, failed, _, retried = result["actions"]
    assert not failed["ok"]
    assert message in failed["error"]
    # Nothing changed: the leftover trigger is still there, no context was copied, and the
    # sequence stands where it stood.
    assert failed["snapshot"] == prepared["snapshot"]
    # Once the cause is gone, the same command completes.
    assert retried["ok"], retried
    assert retried["snapshot"]["contexts"] == before["snapshot"]["legacy_contexts"]
    assert "pgtrigger_legacy_update_00000" not in retried["snapshot"]["functions"]


def test_renumber_gives_each_event_its_own_id_and_keeps_every_diff(project, legacy):
    _, before = legacy
    legacy_events = before["snapshot"]["events"]
    result = switch(
        project,
        actions=[
            {"adopt": ["--renumber", "--dry-run"]},
            {"adopt": ["--renumber"]},
            {"adopt": ["--renumber"]},
        ],
        inspect=True,
        pages=[AUDIT_LOG],
    )
    dry, renumbered, again = result["actions"]
    total = sum(len(rows) for rows in legacy_events.values())
    assert "2 pgh_id value(s) are held by more than one event table" in dry["out"]
    assert "would give" in dry["out"]
    assert dry["snapshot"]["events"] == legacy_events
    assert renumbered["ok"], renumbered
    assert "held by more than one" not in renumbered["out"]
    assert "Nothing to do" in again["out"]
    assert again["snapshot"] == renumbered["snapshot"]

    events = renumbered["snapshot"]["events"]
    ids = [row["pgh_id"] for rows in events.values() for row in rows]
    assert sorted(ids) == list(range(1, total + 1))
    # Every other column is unchanged, in each table's own order.
    for table, rows in events.items():
        assert [{k: v for k, v in r.items() if k != "pgh_id"} for r in rows] == [
            {k: v for k, v in r.items() if k != "pgh_id"} for r in legacy_events[table]
        ]
    # The aggregate shows the same diffs as 3.x did, event by event in each table's order.
    theirs = {}
    for event in before["legacy_aggregate"]:
        theirs.setdefault(event["pgh_model"], []).append(event)
    ours = {}
    for event in result["inspect"]["aggregate"]:
        ours.setdefault(event["pgh_model"], []).append(event)
    assert ours.keys() == theirs.keys()
    for model, events_ in ours.items():
        assert [(e["pgh_label"], normalized_diff(e["pgh_diff"])) for e in events_] == [
            (e["pgh_label"], normalized_diff(e["pgh_diff"])) for e in theirs[model]
        ]
    audit_log = result["inspect"]["pages"][AUDIT_LOG]
    assert audit_log["status"] == 200
    assert all(f"#{pgh_id}" in audit_log["text"] for pgh_id in ids)


def test_a_new_database_migrates_the_switched_project_from_scratch(project, tmp_path):
    # A colleague's or CI's empty database runs 3.x's old migrations, then the switch.
    switch(project)
    name = f"{project.database}_fresh"
    _sql(f'CREATE DATABASE "{name}"')
    try:
        fresh = project.copy(tmp_path / "fresh", name)
        result = fresh.step(
            "core",
            migrate=True,
            write="shop.Product.objects.create(sku='A-1', price='10.00')\n" + AFTER,
            inspect=True,
            actions=[{"adopt": []}],
        )
    finally:
        _sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    inspected = result["inspect"]
    assert inspected["check_clean"], inspected["check_output"]
    assert set(inspected["trigger_status"].values()) == {"INSTALLED"}
    assert [(e["pgh_model"], e["pgh_label"]) for e in inspected["aggregate"]] == [
        ("shop.ProductEvent", "insert"),
        ("shop.ProductPriceEvent", "price_changed"),
        ("shop.ProductEvent", "update"),
        ("shop.ProductEvent", "insert"),
    ]
    assert inspected["aggregate"][1]["pgh_context_metadata"] == {"url": "/after/", "user": 8}
    # Nothing of 3.x to adopt there.
    assert "contexts: none to copy" in result["actions"][0]["out"]
    assert "Nothing to do" in result["actions"][0]["out"]


def test_without_the_stand_in_app_the_command_says_what_to_install(project):
    result = project.step("core", env={"COMPAT_WITHOUT_FROM3X": "1"}, adopt_before=[[]])
    (adopt,) = result["adopt_before"]
    assert not adopt["ok"]
    assert "('pghistory', '0007_auto_20250421_0444')" in adopt["error"]
    assert "Add 'pghistory_core.from3x' to INSTALLED_APPS" in adopt["error"]
