"""Without JavaScript the audit log is plain links and a GET form: full page loads, same URLs."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from e2e.contexts import Contexts
from e2e.pages import AUDIT_LOG, PAGE_SIZE, expected_ids, filter_field, query, wait_for_rows
from pghistory_core.models import Events


def test_filters_and_pages_work_without_javascript(contexts: Contexts) -> None:
    page = contexts.page(java_script_enabled=False)
    orders = Events.objects.across("shop.OrderEvent")
    first = expected_ids(orders)
    second = expected_ids(orders.filter(pgh_id__lt=first[-1]))
    assert len(first) == PAGE_SIZE
    assert second

    page.goto(AUDIT_LOG)
    # Each step waits for a "load" event: a new document, not an htmx swap.
    filter_field(page, "Model").select_option("shop.order")
    with page.expect_event("load"):
        page.get_by_role("button", name="Apply filters").click()
    assert query(page.url)["model"] == ["shop.order"]
    wait_for_rows(page, first)
    expect(filter_field(page, "Model")).to_have_value("shop.order")

    with page.expect_event("load"):
        page.locator(".pgh-pagination a[rel=next]").click()
    assert query(page.url)["before"] == [str(first[-1])]
    assert query(page.url)["model"] == ["shop.order"]
    wait_for_rows(page, second[:PAGE_SIZE])

    with page.expect_event("load"):
        page.locator(".pgh-pagination a[rel=prev]").click()
    wait_for_rows(page, first)

    # A row's changes open as their own page (the expand button needs JavaScript).
    with page.expect_event("load"):
        page.locator(f"tr[data-pgh-id='{first[0]}'] a.pgh-diff-link").click()
    expect(page).to_have_url(re.compile(rf"/auditlog/{first[0]}/diff/$"))
    expect(page.locator("table.pgh-diff, .pgh-diff-empty").first).to_be_visible()
