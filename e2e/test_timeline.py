"""An object's timeline: the History button of its change form, and an edit made in the admin."""

from __future__ import annotations

import re

from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Count, Model
from django.utils.text import capfirst
from playwright.sync_api import Page, expect

from e2e.contexts import ADMIN, Contexts
from e2e.pages import expected_ids, history_url, login, texts, timeline_ids
from example_project.shop.models import Customer, Product
from pghistory_core.models import Events


def _busiest_product() -> Product:
    """The product with the most events: a timeline with many kinds of change."""
    counts = (
        apps.get_model("shop", "ProductEvent")
        .objects.values("pgh_obj_id")
        .annotate(n=Count("pgh_id"))
        .order_by("-n", "pgh_obj_id")
    )
    return Product.objects.get(pk=counts[0]["pgh_obj_id"])


def _label(model: type[Model], attname: str) -> str:
    """How the diff names a field: its verbose name, as the change form does."""
    field = next(f for f in model._meta.concrete_fields if f.attname == attname)
    return str(capfirst(field.verbose_name))


def test_history_button_shows_the_seeded_timeline(contexts: Contexts) -> None:
    page = contexts.page(user=None)
    login(page, *ADMIN)
    product = _busiest_product()
    # Admin index -> products -> the product's change form -> History.
    page.locator("#content-main").get_by_role("link", name="Products", exact=True).click()
    page.locator("#result_list").get_by_role("link", name=product.sku, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/admin/shop/product/{product.pk}/change/$"))
    page.locator(".object-tools").get_by_role("link", name="History", exact=True).click()

    expect(page).to_have_url(re.compile(rf"{history_url(product)}$"))
    expect(page.locator("h1")).to_have_text(f"History: {product}")
    events = {e.pgh_id: e for e in Events.objects.tracks(product)}
    ids = expected_ids(Events.objects.tracks(product))
    assert len(ids) > 5
    # Newest first: exactly the object's events, in descending id (creation) order.
    assert timeline_ids(page) == ids
    times = page.locator("li.pgh-event .pgh-event-head time").evaluate_all(
        "items => items.map(item => item.getAttribute('datetime'))"
    )
    assert times == sorted(times, reverse=True)

    for pgh_id in ids:
        event, item = events[pgh_id], page.locator(f"#event-{pgh_id}")
        if event.pgh_diff is None:
            # The first event lists the initial values under readable field names.
            expect(item.locator(".pgh-initial-note")).to_have_text("Initial values")
            expect(item.locator("tr[data-field='sku'] th")).to_have_text("SKU")
            expect(item.locator("tr[data-field='sku'] td.pgh-new")).to_have_text(product.sku)
            continue
        # An update: one row per changed field, labelled by its verbose name, old → new.
        assert set(texts(item.locator("table.pgh-diff thead th"))) == {"Field", "Before", "After"}
        fields = item.locator("tr.pgh-diff-row").evaluate_all(
            "rows => rows.map(row => row.dataset.field)"
        )
        assert set(fields) == set(event.pgh_diff), pgh_id
        labels = texts(item.locator("tr.pgh-diff-row th"))
        assert labels == [_label(Product, attname) for attname in fields]
        for name in {"stock", "price"} & set(event.pgh_diff):
            old, new = event.pgh_diff[name]
            row = item.locator(f"tr[data-field='{name}']")
            expect(row.locator("th")).to_have_text(name.capitalize())
            expect(row.locator("td.pgh-old")).to_have_text(str(old))
            expect(row.locator("td.pgh-new")).to_have_text(str(new))


def _editable_customer() -> Customer:
    """A recent non-VIP customer the change form accepts as is.

    The seed writes some addresses with accented local parts (``chloé.…@example.com``), which
    ``EmailField``'s validator rejects: the form could not be saved without changing them.
    """
    for customer in Customer.objects.filter(is_vip=False).order_by("-pk"):
        try:
            validate_email(customer.email)
        except ValidationError:
            continue
        return customer
    raise AssertionError("no customer with a valid email address")


def test_admin_edit_appears_in_the_history(page: Page) -> None:
    customer = _editable_customer()
    old_name = customer.name
    page.goto(f"/admin/shop/customer/{customer.pk}/change/")
    page.get_by_label("Name").fill(f"{old_name} Jr.")
    page.get_by_label("VIP").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    page.goto(history_url(customer))
    newest = page.locator("li.pgh-event").first
    expect(newest.locator(".pgh-action")).to_have_text("Updated")
    expect(newest.locator(".pgh-user")).to_have_text("by admin")
    expect(newest.locator(".pgh-source")).to_have_text(
        f"via /admin/shop/customer/{customer.pk}/change/"
    )
    fields = newest.locator("tr.pgh-diff-row").evaluate_all(
        "rows => rows.map(row => row.dataset.field)"
    )
    assert sorted(fields) == ["is_vip", "name"]
    name = newest.locator("tr[data-field='name']")
    expect(name.locator("th")).to_have_text("Name")
    expect(name.locator("td.pgh-old")).to_contain_text(old_name)
    expect(name.locator("td.pgh-new")).to_contain_text(f"{old_name} Jr.")
    expect(newest.locator("tr[data-field='is_vip'] th")).to_have_text("VIP")

    # The page showed what the database holds.
    event = Events.objects.tracks(customer).order_by("-pgh_id").first()
    assert event is not None
    assert sorted(event.pgh_diff) == ["is_vip", "name"]
    assert event.pgh_context_metadata["url"] == f"/admin/shop/customer/{customer.pk}/change/"
    assert newest.get_attribute("id") == f"event-{event.pgh_id}"
