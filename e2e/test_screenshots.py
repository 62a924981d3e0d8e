"""The README's screenshots, taken from the seeded demo: ``PGHISTORY_SCREENSHOTS=1 python dev.py e2e``.

Collected only with ``PGHISTORY_SCREENSHOTS=1`` (see ``conftest.py``), so ordinary runs leave
``docs/screenshots/`` alone.
PNGs, 1280 px wide, light theme unless the name says ``dark``.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from e2e.contexts import Contexts
from e2e.pages import AUDIT_LOG, expected_ids, filter_field, history_url, wait_for_rows
from example_project.shop.models import Product
from pghistory_core.models import Events

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
WIDTH = 1280


def _save(page: Page, name: str, height: int, top: int = 0) -> None:
    """The page from ``top`` down to ``height`` pixels (or its end), full width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # No blinking caret or hover state in the picture.
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    full = page.evaluate("document.documentElement.scrollHeight")
    page.screenshot(
        path=SCREENSHOTS / name,
        clip={"x": 0, "y": top, "width": WIDTH, "height": min(height, full) - top},
        full_page=True,
        animations="disabled",
    )


def _context(contexts: Contexts, theme: str = "light") -> Page:
    context = contexts.new(color_scheme=theme, viewport={"width": WIDTH, "height": 900})
    # The admin's navigation sidebar collapsed: the pictures are about the history pages.
    # (about:blank, the first document of a page, has no storage.)
    context.add_init_script(
        "if (location.protocol.startsWith('http')) "
        "localStorage.setItem('django.admin.navSidebarIsOpen', 'false')"
    )
    return context.new_page()


def _repriced_product() -> Product:
    """A coffee repriced by the ``reprice`` command: price, stock and a command in its history."""
    for product in Product.objects.filter(category__name="Coffee").order_by("pk")[1:]:
        if Events.objects.tracks(product).filter(pgh_diff__has_key="price").exists():
            return product
    raise AssertionError("no repriced coffee")


def test_timeline(contexts: Contexts) -> None:
    page = _context(contexts)
    page.goto(history_url(_repriced_product()))
    expect(page.locator("li.pgh-event").first).to_be_visible()
    _save(page, "timeline.png", 1100)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_audit_log(contexts: Contexts, theme: str) -> None:
    page = _context(contexts, theme)
    alice = User.objects.get(username="alice")
    events = Events.objects.filter(pgh_context_metadata__user=alice.pk)
    newest = events.order_by("-pgh_id").values_list("pgh_created_at", flat=True)[0]
    since = (newest - datetime.timedelta(days=10)).date().isoformat()
    page.goto(AUDIT_LOG)
    filter_field(page, "User").fill("alice")
    filter_field(page, "From").fill(since)
    filter_field(page, "From").press("Tab")
    wait_for_rows(page, expected_ids(events.filter(pgh_created_at__date__gte=since)))
    name = "audit-log.png" if theme == "light" else "audit-log-dark.png"
    _save(page, name, 1000)


def test_row_diff(contexts: Contexts) -> None:
    """A description that grew by a paragraph: the diff highlights the added words."""
    page = _context(contexts)
    edits = Events.objects.across("shop.ProductEvent").filter(pgh_diff__has_key="description")
    event = next(e for e in edits.order_by("-pgh_id") if len(e.pgh_diff["description"][1]) < 800)
    page.goto(f"{AUDIT_LOG}?model=shop.product&field=description")
    page.locator(f"tr[data-pgh-id='{event.pgh_id}'] button.pgh-expand").click()
    diff = page.locator(f"#pgh-diff-{event.pgh_id}")
    expect(diff.locator(".pgh-event-diff")).to_be_visible()
    # From the table's toolbar to a little below the expanded row.
    top = page.locator(".pgh-toolbar").bounding_box()
    bottom = diff.bounding_box()
    assert top is not None
    assert bottom is not None
    _save(page, "diff.png", int(bottom["y"] + bottom["height"] + 110), top=int(top["y"]) - 10)


def test_revert_preview(contexts: Contexts) -> None:
    page = _context(contexts)
    product = _repriced_product()
    event = Events.objects.tracks(product).filter(pgh_diff__has_key="price").get()
    page.goto(f"{history_url(product)}{event.pgh_id}/revert/")
    expect(page.get_by_role("button", name="Yes, revert")).to_be_visible()
    _save(page, "revert-preview.png", 460)


def test_blame(contexts: Contexts) -> None:
    """The showcase coffee: most fields set by someone else, on another day."""
    from example_project.shop.seeding.showcase import SHOWCASE_SKU

    page = _context(contexts)
    page.goto(f"{history_url(Product.objects.get(sku=SHOWCASE_SKU))}blame/")
    expect(page.locator("table.pgh-blame-table")).to_be_visible()
    _save(page, "blame.png", 620)


def test_as_of(contexts: Contexts) -> None:
    """The showcase order as of last week: its lines then, and what changed since."""
    from example_project.shop.models import OrderEvent  # type: ignore[attr-defined]
    from example_project.shop.seeding.showcase import SHOWCASE_ORDER_ADDRESS

    event = OrderEvent.objects.filter(
        pgh_label="insert", shipping_address=SHOWCASE_ORDER_ADDRESS
    ).first()
    assert event is not None
    moment = (timezone.localtime() - datetime.timedelta(days=7)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    page = _context(contexts)
    page.goto(f"/admin/shop/order/{event.pgh_obj_id}/history/as-of/?at={moment:%Y-%m-%dT%H:%M}")
    expect(page.locator("table.pgh-as-of-rows")).to_be_visible()
    _save(page, "as-of.png", 1150)


def test_outside_writes(contexts: Contexts) -> None:
    """A tea repriced from psql by the database role shop_etl, after edits made in the admin."""
    from example_project.shop.seeding.outside import ETL_ROLE

    event = Events.objects.filter(pgh_context_metadata__db_role=ETL_ROLE).first()
    assert event is not None
    page = _context(contexts)
    page.goto(f"{AUDIT_LOG}?model=shop.product&object={event.pgh_obj_id}")
    events = Events.objects.across("shop.ProductEvent").filter(pgh_obj_id=event.pgh_obj_id)
    wait_for_rows(page, expected_ids(events))
    _save(page, "outside-writes.png", 760)
