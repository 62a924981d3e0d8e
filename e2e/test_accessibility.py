"""Keyboard-only use of the audit log, and axe-core on the history pages in both themes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from e2e.axe import serious_violations
from e2e.contexts import Contexts
from e2e.pages import AUDIT_LOG, expected_ids, filter_field, history_url, wait_for_rows
from example_project.shop.models import Order
from pghistory_core.models import Events

#: More Tab presses than the admin's header, breadcrumbs, sidebar and our filters need.
MAX_TABS = 120


def tab_to(page: Page, selector: str, limit: int = MAX_TABS) -> None:
    """Press Tab (at most ``limit`` times) until the focused element matches ``selector``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


def test_filters_and_rows_work_from_the_keyboard(page: Page) -> None:
    dave = User.objects.get(username="dave")
    by_dave = Events.objects.filter(pgh_context_metadata__user=dave.pk)
    dave_orders = by_dave.across("shop.OrderEvent")
    page.goto(AUDIT_LOG)

    # A text filter: type, Enter submits.
    tab_to(page, "#id_user")
    page.keyboard.type("dave")
    page.keyboard.press("Enter")
    wait_for_rows(page, expected_ids(by_dave))

    # A select: Shift+Tab back to it, pick by typing the option, Tab on to the Apply button.
    for _ in range(MAX_TABS):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.id") == "id_model":
            break
    page.keyboard.type("Shop | Order")
    expect(filter_field(page, "Model")).to_have_value("shop.order")
    tab_to(page, "#pgh-filters button[type=submit]")
    page.keyboard.press("Enter")
    ids = expected_ids(dave_orders)
    wait_for_rows(page, ids)

    # Rows: the first expand button is next in the tab order after the row's links.
    tab_to(page, "button.pgh-expand")
    focused = page.evaluate("document.activeElement.getAttribute('aria-controls')")
    assert focused == f"pgh-diff-{ids[0]}"
    button, diff = (
        page.locator(f"tr[data-pgh-id='{ids[0]}'] button.pgh-expand"),
        page.locator(f"#pgh-diff-{ids[0]}"),
    )
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(diff.locator(".pgh-event-diff")).to_be_visible()
    # The focus stays on the button; Enter again collapses, Space expands.
    assert page.evaluate("document.activeElement.classList.contains('pgh-expand')")
    page.keyboard.press("Enter")
    expect(diff).to_be_hidden()
    page.keyboard.press(" ")
    expect(diff).to_be_visible()
    # The expanded diff's links follow in the tab order (after the row's "#id" link).
    tab_to(page, f"#pgh-diff-{ids[0]} a", limit=2)


def _audit_log(page: Page) -> None:
    page.goto(f"{AUDIT_LOG}?model=shop.product")
    page.locator("button.pgh-expand").first.click()
    expect(page.locator("tr.pgh-diff-row:not([hidden]) .pgh-event-diff")).to_be_visible()


def _busy_order() -> Order:
    for order in Order.objects.order_by("pk"):
        if Events.objects.tracks(order).count() >= 3:
            return order
    raise AssertionError("no order with three events")


def _timeline(page: Page) -> None:
    page.goto(history_url(_busy_order()))
    expect(page.locator("li.pgh-event").first).to_be_visible()


def _revert_preview(page: Page) -> None:
    order = _busy_order()
    event = Events.objects.tracks(order).order_by("-pgh_id")[1]
    page.goto(f"{history_url(order)}{event.pgh_id}/revert/")
    expect(page.get_by_role("button", name="Yes, revert")).to_be_visible()


def _request(page: Page) -> None:
    event = Events.objects.filter(pgh_context_id__isnull=False).order_by("pgh_id").first()
    assert event is not None
    page.goto(f"{AUDIT_LOG}?context_id={event.pgh_context_id}")
    expect(page.locator(".pgh-context")).to_be_visible()


PAGES: dict[str, Callable[[Page], None]] = {
    "audit log": _audit_log,
    "timeline": _timeline,
    "revert preview": _revert_preview,
    "request": _request,
}


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_accessibility_violations(contexts: Contexts, name: str, theme: str) -> None:
    page = contexts.page(color_scheme=theme)
    PAGES[name](page)
    assert serious_violations(page) == []
