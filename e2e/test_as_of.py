"""An order as of last week in the browser: picked on the history page, without JavaScript too."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.utils import timezone
from playwright.sync_api import Page, expect

import pghistory_core
from e2e.pages import history_url
from example_project.shop.models import Order, OrderLine
from example_project.shop.seeding.showcase import SHOWCASE_ORDER_ADDRESS


def _showcase_order() -> Order:
    return Order.objects.get(pk=_showcase_pk())


def _showcase_pk() -> int:
    from example_project.shop.models import OrderEvent  # type: ignore[attr-defined]

    event = OrderEvent.objects.filter(
        pgh_label="insert", shipping_address=SHOWCASE_ORDER_ADDRESS
    ).first()
    assert event is not None, "the seed tells the showcase order's story"
    return int(event.pgh_obj_id)


def _last_week() -> datetime:
    moment = timezone.localtime() - timedelta(days=7)
    return moment.replace(hour=12, minute=0, second=0, microsecond=0)


def _pick(page: Page, moment: datetime) -> None:
    page.get_by_label("See this object as it was on").fill(moment.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Show").click()


def test_order_as_of_last_week_with_its_lines(page: Page) -> None:
    order = _showcase_order()
    moment = _last_week()
    then = pghistory_core.as_of(order, moment)
    lines = pghistory_core.related_as_of(then, OrderLine, "order")
    assert len(lines) == 3

    page.goto(history_url(order))
    _pick(page, moment)

    expect(page).to_have_url(re.compile(r"/history/as-of/\?at="))
    values = page.locator("table.pgh-as-of-values")
    expect(values.locator("tr[data-field='status'] td")).to_have_text(
        then.get_status_display()  # type: ignore[attr-defined]
    )
    expect(values.locator("tr[data-field='shipping_address'] td")).to_contain_text(
        "Showcase Lane 7"
    )
    expect(page.locator("table.pgh-as-of-rows tbody tr")).to_have_count(3)
    # What changed since: the status and the address.
    changed = page.locator(".pgh-as-of-diff tr.pgh-diff-row").evaluate_all(
        "rows => rows.map(row => row.dataset.field)"
    )
    assert {"status", "shipping_address"} <= set(changed)

    # Revert goes through the revert preview of the event current at that moment.
    page.get_by_role("link", name="Revert to this moment…").click()
    state = then.pgh_as_of  # type: ignore[attr-defined]
    expect(page).to_have_url(re.compile(rf"/history/{state.revert_pgh_id}/revert/$"))
    expect(page.get_by_role("button", name="Yes, revert")).to_be_visible()


def test_before_creation_and_bad_input(page: Page) -> None:
    order = _showcase_order()
    created = pghistory_core.blame(order).first
    assert created is not None
    page.goto(history_url(order))
    _pick(page, timezone.localtime(created.pgh_created_at) - timedelta(days=1))
    expect(page.locator(".pgh-as-of-missing")).to_contain_text("did not exist yet")

    page.goto(f"{history_url(order)}as-of/?at=next+tuesday")
    expect(page.locator(".errornote")).to_contain_text("This moment cannot be shown")


def test_works_without_javascript(contexts) -> None:
    page = contexts.page(java_script_enabled=False)
    order = _showcase_order()
    page.goto(history_url(order))
    _pick(page, _last_week())
    expect(page.locator("table.pgh-as-of-rows tbody tr")).to_have_count(3)


def test_a_user_who_may_not_view_lines_or_customers_sees_none(contexts) -> None:
    # carol (accountants) may view orders, but neither customers nor order lines.
    order = _showcase_order()
    page = contexts.page("carol")
    page.goto(f"{history_url(order)}as-of/?at={_last_week().strftime('%Y-%m-%dT%H:%M')}")
    expect(page.locator("table.pgh-as-of-values")).to_be_visible()
    expect(page.locator("table.pgh-as-of-rows")).to_have_count(0)
    customer = page.locator("tr[data-field='customer'] td")
    expect(customer).to_have_text(f"#{order.customer_id}")
    expect(page.locator("#content-main")).not_to_contain_text(str(order.customer))
    expect(page.get_by_role("link", name="Revert to this moment…")).to_have_count(0)
