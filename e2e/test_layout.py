"""Layout at narrow widths: the page never scrolls sideways, and long pages keep their buttons."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

import pghistory_core
from e2e.contexts import Contexts
from e2e.pages import AUDIT_LOG, history_url
from e2e.test_timeline import _busiest_product
from example_project.shop.models import Customer
from pghistory_core.models import Events

LONG_URL = "/storefront/checkout/confirm/" + "step-" * 30 + "done/?utm_source=newsletter"


def _page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


@pytest.fixture(scope="module")
def long_url_event() -> int:
    """An event recorded under a URL far longer than the URL column."""
    customer = Customer.objects.order_by("pk")[3]
    with pghistory_core.context(url=LONG_URL):
        Customer.objects.filter(pk=customer.pk).update(notes="Changed through a long URL")
    event = Events.objects.tracks(customer).order_by("-pgh_id").first()
    assert event is not None
    return event.pgh_id


@pytest.mark.parametrize("width", [1024, 390])
def test_audit_log_fits_the_window(contexts: Contexts, width: int, long_url_event: int) -> None:
    page = contexts.page(viewport={"width": width, "height": 800})
    page.goto(AUDIT_LOG)
    table = page.locator("#pgh-table")
    expect(table).to_be_visible()
    if width == 1024:
        # The admin's navigation sidebar is open at this width: the content has 725 px.
        expect(page.locator("#nav-sidebar")).to_be_visible()
    # The page is exactly as wide as the window...
    assert _page_width(page) <= width
    # ...because the table, wider than its box, scrolls inside it.
    box = page.locator("#pgh-results .table-container")
    inner, outer = box.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert inner > outer
    # Scrolled to its end, the box shows the last column ("Changes") within the window.
    box.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    changes = page.locator("#pgh-table thead th").last.bounding_box()
    assert changes is not None
    assert changes["x"] >= 0
    assert changes["x"] + changes["width"] <= width
    assert _page_width(page) <= width

    # A long URL is cut to the column's width, its full value shown on hover (title).
    source = page.locator(f"tr[data-pgh-id='{long_url_event}'] .pgh-source-value")
    expect(source).to_have_text(LONG_URL)
    cut, full = source.evaluate("el => [el.clientWidth, el.scrollWidth]")
    assert cut < full
    assert cut <= 300
    expect(
        page.locator(f"tr[data-pgh-id='{long_url_event}'] a:has(.pgh-source-value)")
    ).to_have_attribute("title", f"{LONG_URL} — every change made in this request or command")

    # An expanded row's diff does not widen the page either.
    page.locator(f"tr[data-pgh-id='{long_url_event}'] button.pgh-expand").click()
    expect(page.locator(f"#pgh-diff-{long_url_event} .pgh-event-diff")).to_be_visible()
    assert _page_width(page) <= width


@pytest.mark.parametrize("width", [1024, 390])
def test_timeline_fits_the_window(contexts: Contexts, width: int) -> None:
    page = contexts.page(viewport={"width": width, "height": 800})
    page.goto(history_url(_busiest_product()))
    expect(page.locator("li.pgh-event").first).to_be_visible()
    assert _page_width(page) <= width


def test_compare_button_is_reachable_anywhere_on_a_long_timeline(contexts: Contexts) -> None:
    page = contexts.page(viewport={"width": 1280, "height": 700})
    page.goto(history_url(_busiest_product()))
    events = page.locator("li.pgh-event")
    assert events.count() > 5
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height > 3 * 700, "a timeline several windows long"
    button = page.get_by_role("button", name="Compare the selected versions")
    # An opaque bar: the timeline scrolling under it does not show through.
    background = page.locator(".pgh-compare-submit").evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    assert background not in ("transparent", "rgba(0, 0, 0, 0)")
    # At the top, in the middle and at the end of the timeline, without scrolling to it.
    for y in (0, height // 2, height):
        page.evaluate(f"window.scrollTo(0, {y})")
        expect(button).to_be_in_viewport()
        # Nothing covers it: a click at its centre lands on it.
        box = button.bounding_box()
        assert box is not None
        hit = page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).closest('button')?.textContent.trim()",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert hit == "Compare the selected versions"
    # From the middle: pick two events there and compare them.
    page.evaluate(f"window.scrollTo(0, {height // 2})")
    ids = [int(i.replace("event-", "")) for i in events.evaluate_all("l => l.map(e => e.id)")]
    older, newer = ids[len(ids) // 2 + 1], ids[len(ids) // 2]
    page.locator(f"#pgh-a-{older}").check()
    page.locator(f"#pgh-b-{newer}").check()
    button.click()
    expect(page.locator(".pgh-compare-sides")).to_be_visible()
    assert f"a={older}" in page.url
    assert f"b={newer}" in page.url


@pytest.mark.parametrize("width", [1024, 390])
def test_event_and_request_pages_fit_the_window(
    contexts: Contexts, width: int, long_url_event: int
) -> None:
    page = contexts.page(viewport={"width": width, "height": 800})
    page.goto(f"{AUDIT_LOG}{long_url_event}/diff/")
    expect(page.locator(".pgh-event-diff")).to_be_visible()
    assert _page_width(page) <= width
    event = Events.objects.filter(pgh_id=long_url_event).get()
    page.goto(f"{AUDIT_LOG}?context_id={event.pgh_context_id}")
    expect(page.locator(".pgh-context")).to_be_visible()
    assert _page_width(page) <= width
