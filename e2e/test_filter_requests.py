"""The filter form sends one results request per change, a newer one replaces an older one, and a
results swap keeps the user's focus (issue: overlapping swaps landed under the keyboard focus)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from playwright.sync_api import Error, Page, Request, Route, expect

from e2e.pages import AUDIT_LOG, expected_ids, filter_field, wait_for_rows
from pghistory_core.models import Events

#: Time for a request that the page would send on its own to show up as a Playwright event.
#: Duplicates are sent synchronously by the DOM event that triggers them, so this is generous.
SETTLE_MS = 400


def _is_results_request(request: Request) -> bool:
    return urlsplit(request.url).path == AUDIT_LOG and request.headers.get("hx-request") == "true"


@pytest.fixture
def results_requests(page: Page) -> list[str]:
    """The query strings of the htmx results requests ``page`` sends, in order."""
    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            sent.append(urlsplit(request.url).query) if _is_results_request(request) else None
        ),
    )
    return sent


class HeldResponses:
    """Holds the results requests' responses until the test releases them (a slow server)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.routes: list[Route] = []
        page.route(lambda url: urlsplit(url).path == AUDIT_LOG, self._hold)

    def _hold(self, route: Route) -> None:
        if _is_results_request(route.request):
            self.routes.append(route)
        else:
            route.continue_()

    def wait_for(self, count: int) -> None:
        """Wait until ``count`` results requests are being held."""
        for _ in range(100):
            if len(self.routes) >= count:
                return
            self.page.wait_for_timeout(50)
        raise AssertionError(f"{len(self.routes)} results requests held, expected {count}")

    def release(self, index: int) -> None:
        """Let request ``index`` through; one the page already aborted has nowhere to go."""
        with suppress(Error):
            self.routes[index].continue_()

    def stop(self) -> None:
        self.page.unroute_all(behavior="ignoreErrors")


@pytest.fixture
def held(page: Page) -> Iterator[HeldResponses]:
    responses = HeldResponses(page)
    yield responses
    responses.stop()


def test_enter_in_a_text_filter_sends_one_request(page: Page, results_requests: list[str]) -> None:
    dave = User.objects.get(username="dave")
    page.goto(AUDIT_LOG)
    user = filter_field(page, "User")
    user.click()
    page.keyboard.type("dave")
    page.keyboard.press("Enter")
    wait_for_rows(page, expected_ids(Events.objects.filter(pgh_context_metadata__user=dave.pk)))
    # Leaving the field fires "change" for the value that Enter already submitted.
    page.keyboard.press("Tab")
    page.wait_for_timeout(SETTLE_MS)
    assert results_requests == ["user=dave"]


def test_change_then_apply_sends_one_request(page: Page, results_requests: list[str]) -> None:
    page.goto(AUDIT_LOG)
    filter_field(page, "Model").select_option("shop.order")
    page.locator("#pgh-filters button[type=submit]").click()
    wait_for_rows(page, expected_ids(Events.objects.across("shop.OrderEvent")))
    page.wait_for_timeout(SETTLE_MS)
    assert results_requests == ["model=shop.order"]

    # New values are sent, and so are the same values again once a page link replaced the results.
    filter_field(page, "Model").select_option("shop.product")
    wait_for_rows(page, expected_ids(Events.objects.across("shop.ProductEvent")))
    page.locator("#pgh-page-next").click()
    expect(page.locator("#pgh-page-first")).to_be_visible()
    page.locator("#pgh-filters button[type=submit]").click()
    wait_for_rows(page, expected_ids(Events.objects.across("shop.ProductEvent")))
    page.wait_for_timeout(SETTLE_MS)
    pages = [query for query in results_requests if "before=" in query]
    assert len(pages) == 1
    filter_requests = [query for query in results_requests if query not in pages]
    assert filter_requests == ["model=shop.order", "model=shop.product", "model=shop.product"]


def test_a_newer_filter_replaces_one_still_in_flight(page: Page, held: HeldResponses) -> None:
    page.goto(AUDIT_LOG)
    filter_field(page, "Model").select_option("shop.order")
    held.wait_for(1)
    filter_field(page, "Model").select_option("shop.product")
    held.wait_for(2)
    held.release(1)
    products = expected_ids(Events.objects.across("shop.ProductEvent"))
    wait_for_rows(page, products)
    # The older response, arriving last, must not put the order rows back.
    held.release(0)
    page.wait_for_timeout(SETTLE_MS)
    wait_for_rows(page, products)


def _newest_event() -> tuple[int, str]:
    """The newest event's id and the filter value of its tracked model (``"shop.order"``)."""
    newest = Events.objects.order_by("-pgh_id").values("pgh_id", "pgh_obj_model").first()
    assert newest is not None
    return newest["pgh_id"], newest["pgh_obj_model"].lower()


def _events_of(model: str) -> Any:
    """What the audit log's model filter shows for ``model``: all its event models."""
    tracked = apps.get_model(model)
    event_models = [
        m for m in apps.get_models() if getattr(m, "pgh_tracked_model", None) is tracked
    ]
    return Events.objects.across(*event_models)


def test_focus_survives_a_slow_swap(page: Page, held: HeldResponses) -> None:
    newest, model = _newest_event()
    page.goto(AUDIT_LOG)
    # The newest event is first on the unfiltered page and on its own model's page.
    filter_field(page, "Model").select_option(model)
    held.wait_for(1)
    # While the response is slow, the user moves on to the (old) results' first row.
    button = page.locator(f"#pgh-expand-{newest}")
    button.focus()
    expect(button).to_be_focused()
    held.release(0)
    wait_for_rows(page, expected_ids(_events_of(model)))
    # The swap replaced the button; focus is on its replacement, where Enter works.
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(page.locator(f"#pgh-diff-{newest} .pgh-event-diff")).to_be_visible()


def test_focus_on_a_row_that_goes_away_moves_to_the_results(
    page: Page, held: HeldResponses
) -> None:
    newest, model = _newest_event()
    other = "shop.product" if model != "shop.product" else "shop.order"
    page.goto(AUDIT_LOG)
    filter_field(page, "Model").select_option(other)
    held.wait_for(1)
    page.locator(f"#pgh-expand-{newest}").focus()
    held.release(0)
    wait_for_rows(page, expected_ids(_events_of(other)))
    # Not lost to the top of the page: the results region (announced by its aria-live) has it.
    expect(page.locator("#pgh-results")).to_be_focused()
