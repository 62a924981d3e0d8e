"""Template tags of the 3.x-style events admin (``{% load pghistory_core_admin %}``)."""

from __future__ import annotations

from typing import Any

from django import template

from pghistory_core.admin import links

register = template.Library()


@register.simple_tag(takes_context=True)
def pgh_event_links(context: Any, opts: Any, back: str, obj: Any = None) -> list[links.Link]:
    """The event buttons of a tracked model's change list or of an object's change form."""
    request = context.get("request")
    if request is None or opts is None:
        return []
    return links.links(request, opts.model, back, obj)
