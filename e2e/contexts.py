"""Browser contexts of a test, logged in as a demo user, watched for page and server errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page

__all__ = ["ADMIN", "STAFF_PASSWORD", "TIMEOUT_MS", "Contexts"]

#: The superuser ``python -m example_project`` creates; the seeded staff share one password.
ADMIN = ("admin", "admin")
STAFF_PASSWORD = "demo"
TIMEOUT_MS = 10_000


class Contexts:
    """Makes browser contexts for a test; notes page errors and server errors they meet."""

    def __init__(self, browser: Browser, server_url: str, state: Callable[[str], str]) -> None:
        self.browser = browser
        self.server_url = server_url
        self.state = state
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    def new(self, user: str | None = ADMIN[0], **options: Any) -> BrowserContext:
        """A context logged in as ``user`` (``None``: anonymous), light theme, 1280 px wide."""
        options.setdefault("viewport", {"width": 1280, "height": 900})
        options.setdefault("color_scheme", "light")
        if user is not None:
            options["storage_state"] = self.state(user)
        context = self.browser.new_context(base_url=self.server_url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("page", self._watch)
        self.contexts.append(context)
        return context

    def page(self, user: str | None = ADMIN[0], **options: Any) -> Page:
        return self.new(user, **options).new_page()

    def _watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"JavaScript error: {error}"))
        page.on(
            "response",
            lambda response: (
                self.errors.append(f"{response.status} from {response.url}")
                if response.status >= 500
                else None
            ),
        )

    def close(self, artifacts: Path | None) -> None:
        for number, context in enumerate(self.contexts):
            if artifacts is not None:
                artifacts.mkdir(parents=True, exist_ok=True)
                for index, page in enumerate(context.pages):
                    page.screenshot(path=artifacts / f"context{number}-page{index}.png")
                    (artifacts / f"context{number}-page{index}.html").write_text(page.content())
            context.close()
