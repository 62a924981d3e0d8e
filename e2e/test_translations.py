"""The pages in German: the compiled translations shipped in pghistory_admin/locale/de/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings
from playwright.sync_api import Page, expect

from e2e.pages import AUDIT_LOG, filter_field, history_url, texts, wait_for_rows
from e2e.test_timeline import _busiest_product
from pghistory_core.models import Events


@pytest.fixture
def german(page: Page) -> Iterator[Page]:
    """A logged-in page, then ``LANGUAGE_CODE = "de"`` for the live server (in this process)."""
    with override_settings(LANGUAGE_CODE="de"):
        yield page


def test_audit_log_in_german(german: Page) -> None:
    page = german
    page.goto(AUDIT_LOG)
    expect(page.locator("h1")).to_have_text("Änderungsprotokoll")
    # "History" is the admin's own word for it ("Geschichte"), as on its History button.
    crumbs = page.locator(".breadcrumbs a").all_text_contents()
    assert crumbs == ["Start", "Geschichte"]
    expect(page.locator(".breadcrumbs")).to_contain_text("Änderungsprotokoll")
    headers = texts(page.locator("#pgh-table thead th"))
    assert headers == [
        "Zeit",
        "Modell",
        "Objekt",
        "Aktion",
        "Benutzer",
        "URL oder Befehl",
        "Änderungen",
    ]
    expect(page.get_by_role("button", name="Filter anwenden")).to_be_visible()
    expect(page.get_by_role("link", name="CSV exportieren")).to_be_visible()
    actions = set(texts(page.locator("#pgh-table tbody tr[data-pgh-id] td:nth-child(4)")))
    assert actions <= {"erstellt", "geändert", "gelöscht"}
    assert "geändert" in actions

    # Filters and their errors too, through an htmx swap.
    filter_field(page, "Modell").select_option("shop.product")
    wait_for_rows(
        page,
        list(
            Events.objects.across("shop.ProductEvent")
            .order_by("-pgh_id")
            .values_list("pgh_id", flat=True)[:50]
        ),
    )
    expect(page.locator("#id_field option").first).to_have_text("Beliebig")
    filter_field(page, "Benutzer").fill("niemand")
    filter_field(page, "Benutzer").press("Enter")
    expect(page.locator("#pgh-results .errornote")).to_contain_text(
        "Es gibt keinen Benutzer „niemand“"
    )


def test_timeline_in_german(german: Page) -> None:
    page = german
    product = _busiest_product()
    page.goto(history_url(product))
    expect(page.locator("h1")).to_have_text(f"Geschichte: {product}")
    expect(page.get_by_role("button", name="Die gewählten Versionen vergleichen")).to_be_visible()
    oldest = page.locator("li.pgh-event").last
    expect(oldest.locator(".pgh-initial-note")).to_have_text("Anfangswerte")
    expect(page.locator("li.pgh-event table.pgh-diff thead th").first).to_have_text("Feld")


def test_english_is_back_after_the_german_tests(page: Page) -> None:
    page.goto(AUDIT_LOG)
    expect(page.locator("h1")).to_have_text("Audit log")
