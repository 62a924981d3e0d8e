"""Rough edges of the admin pages: an ended session, filters that follow each other, JSON diffs."""

from __future__ import annotations

import re
from urllib.parse import unquote

from playwright.sync_api import BrowserContext, Page, expect

from e2e.contexts import ADMIN, Contexts
from e2e.pages import (
    AUDIT_LOG,
    expected_ids,
    filter_field,
    history_url,
    login,
    select_values,
    wait_for_rows,
)
from example_project.shop.models import Category, Product
from pghistory_core.models import Events


def _logged_in(contexts: Contexts) -> tuple[BrowserContext, Page]:
    """A context with its own session (logging it out leaves the cached sessions alone)."""
    context = contexts.new(user=None)
    page = context.new_page()
    login(page, *ADMIN)
    return context, page


def _log_out_in_another_tab(context: BrowserContext) -> None:
    other = context.new_page()
    other.goto("/admin/")
    other.locator("#logout-form button").click()
    expect(other.locator("h1")).to_contain_text("Logged out")
    other.close()


def _log_in_again(page: Page) -> None:
    page.get_by_label("Username").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()


def test_filter_change_after_logout_goes_to_login_and_back(contexts: Contexts) -> None:
    context, page = _logged_in(contexts)
    page.goto(AUDIT_LOG)
    expect(page.locator("#pgh-table")).to_be_visible()
    _log_out_in_another_tab(context)

    filter_field(page, "Model").select_option("shop.order")
    # The browser goes to the login page: no login form was swapped into the results.
    expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
    assert unquote(page.url.split("next=")[1]) == f"{AUDIT_LOG}?model=shop.order"
    _log_in_again(page)
    # Back on the audit log, filtered as asked.
    expect(page).to_have_url(re.compile(re.escape(AUDIT_LOG) + r"\?model=shop\.order$"))
    wait_for_rows(page, expected_ids(Events.objects.across("shop.OrderEvent")))
    expect(filter_field(page, "Model")).to_have_value("shop.order")


def test_row_expansion_after_logout_goes_to_login_and_back(contexts: Contexts) -> None:
    context, page = _logged_in(contexts)
    url = f"{AUDIT_LOG}?model=shop.product"
    page.goto(url)
    first = page.locator("#pgh-table tbody tr[data-pgh-id]").first
    pgh_id = first.get_attribute("data-pgh-id")
    _log_out_in_another_tab(context)

    first.locator("button.pgh-expand").click()
    expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
    assert unquote(page.url.split("next=")[1]) == url
    _log_in_again(page)
    expect(page).to_have_url(re.compile(re.escape(url) + "$"))
    # The row expands now, with its diff (not a login form).
    page.locator(f"tr[data-pgh-id='{pgh_id}'] button.pgh-expand").click()
    expect(page.locator(f"#pgh-diff-{pgh_id} .pgh-event-diff")).to_be_visible()
    assert page.locator(f"#pgh-diff-{pgh_id} form").count() == 0


def test_changed_field_choices_follow_the_model(page: Page) -> None:
    page.goto(AUDIT_LOG)
    field = filter_field(page, "Changed field")
    # Every model's fields, grouped by model, by their verbose names.
    groups = page.locator("#id_field optgroup").evaluate_all("gs => gs.map(g => g.label)")
    assert {"Product", "Order", "Customer"} <= set(groups)
    filter_field(page, "Model").select_option("shop.product")
    expect(page.locator("#id_field optgroup")).to_have_count(0)
    assert select_values(page, "#id_field") == [
        "",
        "id",
        "sku",
        "name",
        "category_id",
        "price",
        "stock",
        "status",
        "attributes",
        "description",
    ]
    labels = page.locator("#id_field option").all_text_contents()
    assert labels[:5] == ["Any", "ID", "SKU", "Name", "Category"]
    # The refreshed field still filters with htmx.
    field.select_option(label="Price")
    repriced = Events.objects.across("shop.ProductEvent").filter(pgh_diff__has_key="price")
    wait_for_rows(page, expected_ids(repriced))


def test_unknown_user_says_so(page: Page) -> None:
    page.goto(AUDIT_LOG)
    filter_field(page, "User").fill("nobody-by-this-name")
    filter_field(page, "User").press("Enter")
    expect(page.locator("#pgh-results .errornote")).to_contain_text(
        "No user “nobody-by-this-name” exists"
    )
    expect(page.locator("#pgh-table tbody tr[data-pgh-id]")).to_have_count(0)


def test_json_diff_lists_every_key_on_both_sides(page: Page) -> None:
    product = Product.objects.order_by("pk")[0]
    before = dict(product.attributes or {})
    before.update({"kind": "sencha", "weight_g": 250})
    Product.objects.filter(pk=product.pk).update(attributes=before)
    Product.objects.filter(pk=product.pk).update(
        attributes={**before, "weight_g": 200, "certifications": ["organic"]}
    )
    event = Events.objects.tracks(product).order_by("-pgh_id").first()
    assert event is not None
    page.goto(f"{AUDIT_LOG}{event.pgh_id}/diff/")
    row = page.locator("tr[data-field='attributes']")
    old_keys = row.locator("td.pgh-old > ul > li").evaluate_all("l => l.map(e => e.dataset.key)")
    new_keys = row.locator("td.pgh-new > ul > li").evaluate_all("l => l.map(e => e.dataset.key)")
    assert old_keys == sorted(before)
    assert new_keys == sorted([*before, "certifications"])
    expect(row.locator("td.pgh-old li[data-key='weight_g']")).to_have_class("pgh-json-changed")
    expect(row.locator("td.pgh-new li[data-key='certifications']")).to_have_text(
        'certifications: ["organic"] (added)'
    )
    expect(row.locator("td.pgh-new li[data-key='kind']")).to_have_class("pgh-json-same")


def test_a_changed_primary_key_links_both_halves(page: Page) -> None:
    category = Category.objects.create(name="Rooibos")
    Category.objects.filter(pk=category.pk).update(name="Rooibos tea")
    new_pk = Category.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1000
    Category.objects.filter(pk=category.pk).update(id=new_pk, name="Rooibos & honeybush")

    page.goto(history_url(Category(pk=new_pk)))
    first = page.locator("li.pgh-event").last
    expect(first.locator(".pgh-key-change")).to_have_text(
        f"Renamed from #{category.pk}: its history under the old key"
    )
    # The rename is a diff against the old key's last values, not "Initial values".
    expect(first.locator("tr[data-field='id'] td.pgh-old")).to_have_text(str(category.pk))
    expect(first.locator("tr[data-field='id'] td.pgh-new")).to_have_text(str(new_pk))
    expect(first.locator("tr[data-field='name'] td.pgh-old")).to_have_text("Rooibos tea")

    first.get_by_role("link", name="its history under the old key").click()
    expect(page).to_have_url(re.compile(rf"{history_url(category)}$"))
    expect(page.locator(".pgh-key-change")).to_contain_text(f"This object was renamed to #{new_pk}")
    expect(page.get_by_role("link", name="Restore this version…")).to_have_count(0)
    page.get_by_role("link", name="Its history under the new key").click()
    expect(page).to_have_url(re.compile(rf"{history_url(Category(pk=new_pk))}$"))
