"""What the tests read off the admin's pages, and the events they expect there (from the ORM)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Locator, Page, expect

__all__ = [
    "AUDIT_LOG",
    "PAGE_SIZE",
    "expected_ids",
    "filter_field",
    "history_url",
    "last_event_id",
    "login",
    "query",
    "row_ids",
    "select_values",
    "texts",
    "timeline_ids",
    "wait_for_rows",
]

AUDIT_LOG = "/admin/pghistory_admin/auditlog/"
#: ``PGHISTORY_ADMIN_PAGE_SIZE`` is not set by the demo: the default.
PAGE_SIZE = 50


def login(page: Page, username: str, password: str) -> None:
    """Log in through the admin's login form."""
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def history_url(obj: Any) -> str:
    opts = obj._meta
    return f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/history/"


def row_ids(page: Page) -> list[int]:
    """``pgh_id``s of the audit log's rows, top to bottom."""
    values = page.locator("#pgh-table tbody tr[data-pgh-id]").evaluate_all(
        "rows => rows.map(row => row.dataset.pghId)"
    )
    return [int(value) for value in values]


def timeline_ids(page: Page) -> list[int]:
    """``pgh_id``s of an object's timeline, top to bottom."""
    values = page.locator("ol.pgh-timeline > li.pgh-event").evaluate_all(
        "items => items.map(item => item.id.replace('event-', ''))"
    )
    return [int(value) for value in values]


def wait_for_rows(page: Page, ids: list[int]) -> None:
    """Wait until the audit log shows exactly the rows ``ids`` (htmx swaps asynchronously)."""
    rows = page.locator("#pgh-table tbody tr[data-pgh-id]")
    if not ids:
        expect(rows).to_have_count(0)
        return
    expect(rows).to_have_count(len(ids))
    expect(rows.first).to_have_attribute("data-pgh-id", str(ids[0]))
    expect(rows.last).to_have_attribute("data-pgh-id", str(ids[-1]))
    assert row_ids(page) == ids


def expected_ids(events: Any, limit: int | None = PAGE_SIZE) -> list[int]:
    """``pgh_id``s of an ``Events`` queryset, newest first (one page unless ``limit`` is None)."""
    ordered = events.order_by("-pgh_id").values_list("pgh_id", flat=True)
    return list(ordered if limit is None else ordered[:limit])


def last_event_id() -> int:
    """The last ``pgh_id`` handed out: events written later have larger ids."""
    from example_project.shop.seeding.timeline import last_event_id as last

    return last()


def query(url: str) -> dict[str, list[str]]:
    """The query string of ``url`` as a dict of lists."""
    return parse_qs(urlsplit(url).query)


def filter_field(page: Page, label: str) -> Locator:
    """A field of the audit log's filter form, by its label (``"To"`` is also a sidebar toggle)."""
    return page.locator("#pgh-filters").get_by_label(label)


def texts(locator: Locator) -> list[str]:
    """The elements' text as written (``inner_text`` would apply CSS ``text-transform``)."""
    return [" ".join(text.split()) for text in locator.all_text_contents()]


def select_values(page: Page, selector: str) -> list[str]:
    return page.locator(f"{selector} option").evaluate_all("options => options.map(o => o.value)")
