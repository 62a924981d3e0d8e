"""A staff user who may only view orders (carol, an accountant) sees only the orders' history."""

from __future__ import annotations

import csv

from playwright.sync_api import expect

from e2e.contexts import Contexts
from e2e.pages import (
    AUDIT_LOG,
    expected_ids,
    history_url,
    row_ids,
    select_values,
    texts,
)
from example_project.shop.models import Customer, Order, Product
from pghistory_core.models import Events


def test_view_permission_on_one_model_scopes_everything(contexts: Contexts) -> None:
    page = contexts.page("carol")
    orders = Events.objects.across("shop.OrderEvent")
    order_fields = {f.attname for f in Order._meta.concrete_fields}

    page.goto(AUDIT_LOG)
    expect(page.locator("h1")).to_have_text("Audit log")
    assert set(texts(page.locator("#pgh-table tbody td:nth-child(2)"))) == {"Order"}
    assert row_ids(page) == expected_ids(orders)

    # The filters offer nothing of the other models.
    assert select_values(page, "#id_model") == ["", "shop.order"]
    assert set(select_values(page, "#id_field")) - {""} == order_fields
    # Asking for another model by URL is an invalid choice, not a way in.
    page.goto(f"{AUDIT_LOG}?model=shop.customer")
    expect(page.locator(".errornote")).to_contain_text("Model")
    expect(page.locator("#pgh-table tbody tr[data-pgh-id]")).to_have_count(0)
    # Nor is an object id of another model: no row.
    customer = Customer.objects.order_by("pk").first()
    assert customer is not None
    page.goto(f"{AUDIT_LOG}?object={customer.pk}")
    assert set(texts(page.locator("#pgh-table tbody td:nth-child(2)"))) <= {"Order"}

    # The export holds every order event and nothing else.
    page.goto(AUDIT_LOG)
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    with open(info.value.path(), newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert {row["model"] for row in rows} == {"shop.Order"}
    assert [int(row["pgh_id"]) for row in rows] == expected_ids(orders, limit=None)

    # Other models' pages are refused, the orders' open.
    product = Product.objects.order_by("pk").first()
    assert product is not None
    for url in [
        history_url(customer),
        history_url(product),
        f"{history_url(product)}export/",
        f"/admin/shop/customer/{customer.pk}/change/",
    ]:
        response = page.goto(url)
        assert response is not None
        assert response.status == 403, url
    customer_event = Events.objects.tracks(customer).order_by("pgh_id").first()
    assert customer_event is not None
    response = page.goto(f"{AUDIT_LOG}{customer_event.pgh_id}/diff/")
    assert response is not None
    assert response.status == 404
    order = Order.objects.order_by("pk").first()
    assert order is not None
    response = page.goto(history_url(order))
    assert response is not None
    assert response.status == 200
    # Viewing is not changing: no revert offered.
    expect(page.locator("li.pgh-event").first).to_be_visible()
    expect(page.locator("a.pgh-revert")).to_have_count(0)
