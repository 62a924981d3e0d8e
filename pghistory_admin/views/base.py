"""What every history page shares: the admin's look, partial rendering for htmx, keyset pages."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.admin import AdminSite
from django.db import DatabaseError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.template.response import SimpleTemplateResponse, TemplateResponse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _

from pghistory_admin import conf, timeouts
from pghistory_admin.links import AdminLinks
from pghistory_admin.pagination import (
    Cursor,
    InvalidCursor,
    KeysetPage,
    Limiter,
    keyset_page,
    parse_cursor,
)

__all__ = ["AdminPageMixin", "PageMixin", "querystring"]


def querystring(request: HttpRequest, **changes: Any) -> str:
    """The request's query string with ``changes`` applied (``None`` removes a key)."""
    params = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


class AdminPageMixin:
    """Admin look and partial rendering, shared by every history page."""

    admin_site: AdminSite | None = None
    template_name: str | None = None
    partial_template_name: str | None = None
    title: ClassVar[Any] = ""
    request: HttpRequest

    #: Whether ``dispatch`` runs the whole view (and its rendering) under the statement timeout
    #: in one transaction; exports bound each of their statements instead.
    bounded_dispatch: ClassVar[bool] = True
    timeout_template_name = "pghistory_admin/timeout.html"
    partial_timeout_template_name = "pghistory_admin/_timeout.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not self.bounded_dispatch:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        try:
            with timeouts.statement_timeout():
                response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
                # Rendered here, so the template's queries are bounded too.
                if isinstance(response, SimpleTemplateResponse):
                    response.render()
                return response
        except DatabaseError as error:
            if not timeouts.is_timeout(error):
                raise
            return self.timeout_response()

    def timeout_response(self) -> HttpResponse:
        """The page that says the request's queries took too long (503; 200 for htmx, which
        swaps only successful responses)."""
        partial = self.is_partial()
        context: dict[str, Any] = {"timeout": conf.statement_timeout()}
        if not partial:
            self.request.current_app = self.get_admin_site().name
            context.update(self.get_admin_site().each_context(self.request))
            context["title"] = self.get_title_on_timeout()
        response = TemplateResponse(
            self.request,
            self.partial_timeout_template_name if partial else self.timeout_template_name,
            context,
            status=200 if partial else 503,
        )
        response.render()
        return self.finalize(response)

    def get_title_on_timeout(self) -> str:
        return _("The history query took too long")

    def get_admin_site(self) -> AdminSite:
        if self.admin_site is None:
            raise TypeError(f"{type(self).__name__}.as_view() needs admin_site=…")
        return self.admin_site

    def get_links(self) -> AdminLinks:
        """URL builder for this request (permission answers are cached on it)."""
        if not hasattr(self, "_links"):
            self._links = AdminLinks(self.get_admin_site(), self.request)
        return self._links

    def is_partial(self) -> bool:
        """Whether to answer with the partial: an htmx swap, not a history restore."""
        htmx = getattr(self.request, "htmx", None)
        if not htmx:
            return False
        return not htmx.history_restore_request

    def get_template_names(self) -> list[str]:
        if self.partial_template_name and self.is_partial():
            return [self.partial_template_name]
        return [self.template_name] if self.template_name else []

    def get_title(self) -> str:
        return str(self.title)

    def get_admin_context(self) -> dict[str, Any]:
        """What ``admin/base_site.html`` needs (skipped for partials)."""
        self.request.current_app = self.get_admin_site().name
        if self.is_partial():
            return {}
        return {**self.get_admin_site().each_context(self.request), "title": self.get_title()}

    def finalize(self, response: HttpResponse) -> HttpResponse:
        # Full page and partial share a URL: caches must key on the htmx header.
        patch_vary_headers(response, ("HX-Request",))
        return response


class PageMixin(AdminPageMixin):
    """A keyset page of a queryset of the aggregate stream."""

    cursor_error: bool = False
    descending: bool = True

    def get_page_size(self) -> int:
        return conf.page_size()

    def get_cursor(self) -> Cursor | None:
        """The page's cursor; ``None`` (and an empty page) when malformed."""
        try:
            return parse_cursor(self.request.GET)
        except InvalidCursor:
            self.cursor_error = True
            return None

    def get_limiter(self) -> Limiter | None:
        """Where a page's read must stop (``search_limit``), if anywhere."""
        return None

    def paginate(self, queryset: QuerySet[Any] | None) -> KeysetPage:
        cursor = self.get_cursor()
        if queryset is None or cursor is None:
            return KeysetPage(descending=self.descending)
        return keyset_page(
            queryset,
            cursor,
            size=self.get_page_size(),
            descending=self.descending,
            limit=self.get_limiter(),
        )

    def get_pagination_context(self, page: KeysetPage) -> dict[str, Any]:
        return {
            "page": page,
            "cursor_error": self.cursor_error,
            "next_url": querystring(self.request, **page.next_params) if page.has_next else None,
            "previous_url": (
                querystring(self.request, **page.previous_params) if page.has_previous else None
            ),
            "first_url": querystring(self.request, before=None, after=None),
            "limit_url": querystring(self.request, **page.limit_params) if page.limit else None,
        }
