"""Accessibility checks with axe-core, vendored in ``e2e/vendor/`` (see ``vendor/README.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

__all__ = ["EXCLUDED", "serious_violations"]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
BLOCKING = ("serious", "critical")
#: Violations left out: rule id -> the element (CSS selector prefix of axe's target) it is
#: excused on, each for a reason outside pghistory_admin.
EXCLUDED: dict[str, str] = {
    # Django admin's breadcrumbs style their links only by colour (admin/css/base.css: white
    # links in light blue text, no underline). Django's own change list fails the same way; our
    # pages reuse the admin's breadcrumbs markup and CSS so they look like every other page.
    "link-in-text-block": ".breadcrumbs",
}


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's ``serious`` and ``critical`` violations on the page as it is now.

    Each comes back as ``{"id", "impact", "help", "nodes": [target selectors]}``, short enough
    to read in an assertion message.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=AXE)
    results = page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map(v => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                nodes: v.nodes.map(n => n.target.join(" ")),
            }));
        }"""
    )
    blocking = []
    for violation in results:
        if violation["impact"] not in BLOCKING:
            continue
        excused = EXCLUDED.get(violation["id"])
        if excused is not None:
            violation["nodes"] = [n for n in violation["nodes"] if not n.startswith(excused)]
        if violation["nodes"]:
            blocking.append(violation)
    return blocking
