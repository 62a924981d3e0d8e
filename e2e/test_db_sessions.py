"""A write made outside Django (the demo's tea repriced from psql by the role shop_etl): named
after its database session in the audit log, found by its keys with or without JavaScript."""

from __future__ import annotations

import re

from django.test import override_settings
from playwright.sync_api import Page, expect

from e2e.contexts import Contexts
from e2e.pages import AUDIT_LOG, expected_ids, query, wait_for_rows
from example_project.shop.seeding.outside import ETL_ROLE
from pghistory_core.models import Events


def _etl_events() -> list[int]:
    ids = expected_ids(Events.objects.filter(pgh_context_metadata__db_role=ETL_ROLE))
    assert ids, "the seeded demo has no write from psql"
    return ids


def test_filter_by_database_role(contexts: Contexts) -> None:
    ids = _etl_events()
    page = contexts.page()
    page.goto(AUDIT_LOG)
    context = page.locator("#id_context")
    context.fill(f"db_role={ETL_ROLE}")
    context.press("Enter")
    wait_for_rows(page, ids)
    assert query(page.url)["context"] == [f"db_role={ETL_ROLE}"]
    user = page.locator(f"tr[data-pgh-id='{ids[0]}'] .pgh-db-session")
    expect(user).to_have_text(f"via psql as role {ETL_ROLE}")
    expect(user).to_have_attribute(
        "title", re.compile(f"^Written outside Django by database role {ETL_ROLE}\\.")
    )


def test_without_javascript(contexts: Contexts) -> None:
    ids = _etl_events()
    page = contexts.page(java_script_enabled=False)
    page.goto(f"{AUDIT_LOG}?context=application_name%3Dpsql")
    wait_for_rows(page, ids)
    expect(page.locator(".pgh-db-session").first).to_have_text(f"via psql as role {ETL_ROLE}")
    # The context panel says which keys the client chose.
    with page.expect_event("load"):
        page.locator(f"tr[data-pgh-id='{ids[0]}'] a[href*='context_id']").click()
    expect(page.locator(".pgh-context")).to_contain_text("chosen by the client, proves nothing")


def test_in_german(page: Page) -> None:
    ids = _etl_events()
    with override_settings(LANGUAGE_CODE="de"):
        page.goto(f"{AUDIT_LOG}?context=db_role%3D{ETL_ROLE}")
        wait_for_rows(page, ids)
        expect(page.locator(".pgh-db-session").first).to_have_text(
            f"über psql als Rolle {ETL_ROLE}"
        )
