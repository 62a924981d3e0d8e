"""The global audit log: writes from outside the admin, filters with htmx, lazy diffs, contexts."""

from __future__ import annotations

import csv
import datetime
import re
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import F
from playwright.sync_api import Page, Request, expect

from e2e.pages import (
    AUDIT_LOG,
    expected_ids,
    filter_field,
    history_url,
    last_event_id,
    query,
    row_ids,
    texts,
    wait_for_rows,
)
from example_project.shop.models import Customer, Order, Product
from pghistory_core.models import Events


def test_bulk_and_raw_sql_updates_appear(page: Page) -> None:
    before = last_event_id()
    tea = Product.objects.filter(category__name="Tea")
    updated = tea.update(stock=F("stock") + 5)
    customer = Customer.objects.order_by("pk")[1]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE shop_customer SET notes = %s WHERE id = %s", ["Raw SQL was here", customer.pk]
        )
    new = expected_ids(Events.objects.filter(pgh_id__gt=before), limit=None)
    assert updated > 1
    assert len(new) == updated + 1

    page.goto(AUDIT_LOG)
    # Newest first: the raw SQL update on top, then one row per product of the bulk update.
    assert row_ids(page)[: len(new)] == new
    cells = [texts(page.locator(f"tr[data-pgh-id='{pgh_id}'] td")) for pgh_id in new]
    # Time, model, object, action, user, URL or command, changes: no user and no URL, since
    # neither write ran in a request, and Django's own sessions record no context without one
    # (only writes made outside Django are attributed to their database session).
    assert cells[0][1:6] == ["Customer", customer.name, "updated", "", ""]
    assert cells[0][6].startswith("Notes")
    products = {str(p) for p in tea}
    for row in cells[1:]:
        assert row[1] == "Product"
        assert row[2] in products
        assert row[3:6] == ["updated", "", ""]
        assert row[6].startswith("Stock")


def _day(value: datetime.datetime) -> str:
    return value.date().isoformat()


def _day_start(day: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.UTC)


def test_filters_swap_the_table_and_keep_the_url(page: Page) -> None:
    alice = User.objects.get(username="alice")
    by_alice = Events.objects.filter(pgh_context_metadata__user=alice.pk)
    alice_orders = by_alice.across("shop.OrderEvent")
    times = sorted(alice_orders.values_list("pgh_created_at", flat=True))
    since, until = _day(times[len(times) // 4]), _day(times[len(times) * 3 // 4])
    from_since = alice_orders.filter(pgh_created_at__gte=_day_start(since))
    in_range = from_since.filter(pgh_created_at__lt=_day_start(until) + datetime.timedelta(days=1))
    # Each change of a field swaps the table and pushes a URL: one history entry per step.
    steps = [
        ("User", "alice", expected_ids(by_alice)),
        ("Model", "shop.order", expected_ids(alice_orders)),
        ("From", since, expected_ids(from_since)),
        ("To", until, expected_ids(in_range)),
    ]
    # Each filter narrows the list, so every step shows other rows.
    assert len({tuple(ids) for _, _, ids in steps}) == len(steps)
    assert all(ids for _, _, ids in steps)

    page.goto(AUDIT_LOG)
    page.evaluate("window.__marker = 1")
    swaps: list[Request] = []
    page.on("request", lambda r: swaps.append(r) if r.headers.get("hx-request") else None)
    urls = [page.url]
    for label, value, ids in steps:
        field = filter_field(page, label)
        if label == "Model":
            field.select_option(value)
        else:
            field.fill(value)
            field.press("Tab")
        wait_for_rows(page, ids)
        expect(page).not_to_have_url(urls[-1])
        urls.append(page.url)
    assert query(urls[-1]) == {
        "user": ["alice"],
        "model": ["shop.order"],
        "since": [since],
        "until": [until],
    }
    # No navigation happened: the page's JavaScript state survived every swap.
    assert page.evaluate("window.__marker") == 1
    assert len(swaps) == len(steps)

    # Back, step by step: each previous filter comes back, with its URL, rows and form values.
    for back in range(len(steps) - 1, 0, -1):
        page.go_back()
        expect(page).to_have_url(urls[back])
        wait_for_rows(page, steps[back - 1][2])
        for index, (label, value, _) in enumerate(steps):
            expect(filter_field(page, label)).to_have_value(value if index < back else "")
    assert page.evaluate("window.__marker") == 1

    # A pushed URL is a real page: loading it shows the same rows and filters.
    page.goto(urls[-1])
    assert page.evaluate("window.__marker") is None
    wait_for_rows(page, steps[-1][2])
    for label, value, _ in steps:
        expect(filter_field(page, label)).to_have_value(value)
    page.reload()
    wait_for_rows(page, steps[-1][2])


def test_row_diff_loads_on_expand_and_shows_markup_as_text(page: Page) -> None:
    customer = Customer.objects.order_by("pk")[2]
    payload = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'
    customer.notes = payload
    customer.save()
    event = Events.objects.tracks(customer).order_by("-pgh_id").first()
    assert event is not None
    seeded = Events.objects.filter(pgh_data__notes__icontains="<script>alert(1)</script>").first()
    assert seeded is not None, "the seed pastes markup into a customer's notes"

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    diff_requests: list[str] = []
    page.on("request", lambda r: diff_requests.append(r.url) if "/diff/" in r.url else None)
    page.goto(f"{AUDIT_LOG}?{urlencode({'model': 'shop.customer', 'field': 'notes'})}")
    page.wait_for_load_state("networkidle")
    assert diff_requests == [], "diffs load only when a row is expanded"

    for pgh_id, text in [(event.pgh_id, payload), (seeded.pgh_id, "<script>alert(1)</script>")]:
        button = page.locator(f"tr[data-pgh-id='{pgh_id}'] button.pgh-expand")
        body = page.locator(f"#pgh-diff-{pgh_id}")
        expect(body).to_be_hidden()
        with page.expect_response(re.compile(rf"/auditlog/{pgh_id}/diff/$")):
            button.click()
        expect(button).to_have_attribute("aria-expanded", "true")
        expect(body).to_be_visible()
        notes = body.locator("tr[data-field='notes'] td.pgh-new")
        expect(notes).to_contain_text(text)
        # Shown as text: no element came out of the value.
        assert body.locator("script, img").count() == 0
        assert diff_requests[-1].endswith(f"/auditlog/{pgh_id}/diff/")

        # Collapsing and expanding again reuses the loaded diff.
        count = len(diff_requests)
        button.click()
        expect(body).to_be_hidden()
        button.click()
        expect(body).to_be_visible()
        assert len(diff_requests) == count

    assert len(diff_requests) == 2
    page.wait_for_timeout(200)
    assert dialogs == []
    assert page.evaluate("window.__pwned") is None


def test_request_view_lists_every_change_of_the_request(page: Page) -> None:
    # A storefront checkout of a new customer: customer, order, lines and stock in one request.
    first_order = (
        Events.objects.across("shop.CustomerEvent")
        .filter(pgh_label="insert", pgh_context_metadata__url="/checkout/")
        .order_by("pgh_id")
    )
    context_id = None
    for candidate in first_order.values_list("pgh_context_id", flat=True)[:20]:
        if Events.objects.filter(pgh_context_id=candidate, pgh_obj_model="shop.Order").exists():
            context_id = candidate
            break
    assert context_id is not None
    in_request = Events.objects.filter(pgh_context_id=context_id)
    order_event = in_request.filter(pgh_obj_model="shop.Order").get()
    order = Order.objects.get(pk=order_event.pgh_obj_id)
    models = set(in_request.values_list("pgh_obj_model", flat=True))
    assert {"shop.Customer", "shop.Order", "shop.OrderLine", "shop.Product"} <= models

    page.goto(history_url(order))
    page.locator(f"#event-{order_event.pgh_id} .pgh-source a").click()

    expect(page).to_have_url(re.compile(rf"\?context_id={context_id}$"))
    panel = page.locator(".pgh-context")
    expect(panel.locator("h2")).to_have_text("What happened in this request")
    expect(panel).to_contain_text("/checkout/")
    wait_for_rows(page, expected_ids(in_request))
    shown = set(texts(page.locator("#pgh-table tbody tr[data-pgh-id] td:nth-child(2)")))
    assert shown == {"Customer", "Order", "Order line", "Product"}


def test_export_downloads_exactly_the_filtered_rows(page: Page) -> None:
    dave = User.objects.get(username="dave")
    events = Events.objects.filter(pgh_context_metadata__user=dave.pk).across("shop.CustomerEvent")
    expected = {e.pgh_id: e for e in events}
    assert 0 < len(expected) <= 50

    page.goto(AUDIT_LOG)
    filter_field(page, "Model").select_option("shop.customer")
    filter_field(page, "User").fill("dave")
    page.get_by_role("button", name="Apply filters").click()
    wait_for_rows(page, expected_ids(events))

    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename == "audit-log.csv"
    with open(download.path(), newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))

    assert [int(row["pgh_id"]) for row in rows] == sorted(expected, reverse=True)
    for row in rows:
        event = expected[int(row["pgh_id"])]
        assert row["model"] == "shop.Customer"
        # The user as the page shows it, and the id recorded.
        assert (row["user_id"], row["user"]) == (str(dave.pk), "dave")
        assert row["action"] in {"created", "updated", "deleted"}
        # Full timestamps: microseconds and the UTC offset, exactly as stored.
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", row["created_at"])
        assert datetime.datetime.fromisoformat(row["created_at"]) == event.pgh_created_at
