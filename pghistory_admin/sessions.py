"""An htmx request whose session has ended goes to the login page, not into the results.

The admin answers such a request with a redirect to its login form, which the browser follows
inside the XMLHttpRequest: htmx would swap the whole login page into the table or the row.
``admin_view`` answers it with ``HX-Redirect`` instead, so the browser itself loads the login
page, whose ``next`` brings the user back to the page they were on.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.contrib.admin import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django_htmx.http import HttpResponseClientRedirect

__all__ = ["admin_view", "login_redirect", "return_url"]


def return_url(request: HttpRequest) -> str:
    """Where to come back after logging in: the page the browser shows (or will show).

    A swap of the page's own URL (a filter, a page of results) pushes that URL: come back to it.
    Anything else (a row's diff) is loaded into the page: come back to the page.
    """
    htmx = getattr(request, "htmx", None)
    current = htmx.current_url_abs_path if htmx else None
    if (
        current
        and url_has_allowed_host_and_scheme(current, allowed_hosts=None)
        and urlsplit(current).path != request.path
    ):
        return current
    return request.get_full_path()


def login_redirect(admin_site: AdminSite, request: HttpRequest) -> HttpResponse:
    """``HX-Redirect`` to the site's login page, ``next`` set to ``return_url``."""
    login_url = reverse(f"{admin_site.name}:login", current_app=admin_site.name)
    query = urlencode({REDIRECT_FIELD_NAME: return_url(request)})
    return HttpResponseClientRedirect(f"{login_url}?{query}")


def admin_view(admin_site: AdminSite, view: Callable[..., Any]) -> Callable[..., Any]:
    """``admin_site.admin_view(view)``, but htmx requests without access get ``HX-Redirect``."""
    protected = admin_site.admin_view(view)

    @never_cache
    @wraps(protected)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if getattr(request, "htmx", False) and not admin_site.has_permission(request):
            return login_redirect(admin_site, request)
        return protected(request, *args, **kwargs)

    return wrapper
