"""Field blame in the browser: from the History button to who set each field, and the event."""

from __future__ import annotations

import re
from decimal import Decimal

from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

import pghistory_core
from e2e.pages import AUDIT_LOG, history_url
from example_project.shop.models import Category, Product
from example_project.shop.seeding.showcase import SHOWCASE_SKU


def _edited_product() -> tuple[Product, int]:
    """A product created by alice, renamed by bob, repriced by a command."""
    alice, bob = User.objects.get(username="alice"), User.objects.get(username="bob")
    with pghistory_core.context(user=alice.pk, url="/admin/shop/product/add/"):
        product = Product.objects.create(
            sku="E2E-BLAME",
            name="Blamed beans",
            category=Category.objects.first(),
            price=Decimal("9.00"),
        )
    with pghistory_core.context(user=bob.pk, url=f"/admin/shop/product/{product.pk}/change/"):
        Product.objects.filter(pk=product.pk).update(name="Blamed beans, washed")
    with pghistory_core.context(command="reprice", command_args=["--percent", "10"]):
        Product.objects.filter(pk=product.pk).update(price=Decimal("9.90"))
    return product, bob.pk


def test_blame_names_who_set_each_field(page: Page) -> None:
    product, _ = _edited_product()
    page.goto(history_url(product))
    page.get_by_role("link", name="Blame", exact=True).click()

    expect(page).to_have_url(re.compile(rf"{history_url(product)}blame/$"))
    name = page.locator("tr[data-field='name']")
    expect(name.locator(".pgh-blame-value")).to_have_text("Blamed beans, washed")
    expect(name.locator(".pgh-blame-user")).to_have_text("bob")
    expect(name.locator(".pgh-blame-source")).to_have_text(
        f"/admin/shop/product/{product.pk}/change/"
    )
    price = page.locator("tr[data-field='price']")
    expect(price.locator(".pgh-blame-source")).to_have_text("reprice --percent 10")
    expect(price.locator(".pgh-blame-user")).to_have_text("-")
    sku = page.locator("tr[data-field='sku']")
    expect(sku.locator(".pgh-blame-user")).to_have_text("alice")
    expect(sku.locator(".pgh-blame-note")).to_have_text("unchanged since creation")

    # The event link opens that event's diff.
    event = pghistory_core.blame(product)["price"].event
    assert event is not None
    price.get_by_role("link", name=f"#{event.pgh_id}").click()
    expect(page).to_have_url(re.compile(rf"{AUDIT_LOG}{event.pgh_id}/diff/$"))
    expect(page.locator("#content-main")).to_contain_text("9.90")


def test_blame_hides_what_the_user_may_not_see(contexts) -> None:
    # carol (accountants) may view orders only, not products.
    product = Product.objects.get(sku=SHOWCASE_SKU)
    page = contexts.page("carol")
    response = page.goto(f"{history_url(product)}blame/")
    assert response is not None
    assert response.status == 403
