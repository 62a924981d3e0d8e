"""Reverting an object to an earlier version: preview, confirm, and the revert in the history."""

from __future__ import annotations

import re
from typing import Any

from django.forms.models import model_to_dict
from playwright.sync_api import Page, expect

from e2e.pages import history_url, timeline_ids
from example_project.shop.models import Product
from pghistory_core.models import Events


def _tracked_values(product: Product) -> dict[str, Any]:
    """The product's fields as an event stores them (attnames, JSON-compatible values)."""
    values = {f.attname: getattr(product, f.attname) for f in Product._meta.concrete_fields}
    values["price"] = float(values["price"])
    return values


def _revert_target() -> tuple[Product, Any, list[str]]:
    """A product, an older event of it (not the newest two), and the fields a revert changes."""
    for product in Product.objects.order_by("-pk"):
        events = list(Events.objects.tracks(product).order_by("-pgh_id")[:4])
        if len(events) < 4:
            continue
        target = events[2]
        current = _tracked_values(product)
        data = {key: float(v) if key == "price" else v for key, v in target.pgh_data.items()}
        changed = sorted(key for key, value in data.items() if current[key] != value)
        if changed:
            return product, target, changed
    raise AssertionError("no product with an older version to revert to")


def test_revert_through_preview_and_confirm(page: Page) -> None:
    product, target, changed = _revert_target()
    before = model_to_dict(product)

    page.goto(history_url(product))
    page.locator(f"#event-{target.pgh_id}").get_by_role(
        "link", name="Revert to this version…"
    ).click()

    # The preview: which fields change, from the current value to the version's value.
    expect(page).to_have_url(re.compile(rf"/history/{target.pgh_id}/revert/$"))
    expect(page.locator("h1")).to_have_text(f"Revert {product}")
    expect(page.locator("#content-main")).to_contain_text(
        f"Reverting to the version of event #{target.pgh_id} changes these fields"
    )
    fields = page.locator("table.pgh-diff tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.field)"
    )
    assert sorted(fields) == changed
    # Nothing is written before the confirmation.
    product.refresh_from_db()
    assert model_to_dict(product) == before

    page.get_by_role("button", name="Yes, revert").click()

    expect(page).to_have_url(re.compile(rf"{history_url(product)}$"))
    expect(page.locator(".messagelist")).to_contain_text(
        f"was reverted to its version of event #{target.pgh_id}."
    )
    product.refresh_from_db()
    assert _tracked_values(product) == {
        key: float(v) if key == "price" else v for key, v in target.pgh_data.items()
    }

    # The revert is an event like any other: newest, by admin, from the revert page.
    revert = Events.objects.tracks(product).order_by("-pgh_id").first()
    assert revert is not None
    assert timeline_ids(page)[0] == revert.pgh_id
    newest = page.locator("li.pgh-event").first
    expect(newest.locator(".pgh-action")).to_have_text("Updated")
    expect(newest.locator(".pgh-user")).to_have_text("by admin")
    expect(newest.locator(".pgh-source")).to_have_text(
        f"via /admin/shop/product/{product.pk}/history/{target.pgh_id}/revert/"
    )
    reverted = newest.locator("tr.pgh-diff-row").evaluate_all(
        "rows => rows.map(row => row.dataset.field)"
    )
    assert sorted(reverted) == changed
