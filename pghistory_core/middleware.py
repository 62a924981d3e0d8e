"""``HistoryMiddleware``: the request's user and URL on every event it writes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import FileResponse, HttpRequest, HttpResponse

from pghistory_core import config, runtime
from pghistory_core.runtime import context


class _UserTrackingRequest:
    """Adds the user to the context when it is set on the request after the middleware ran.

    DRF-style authentication sets ``request.user`` inside the view; the request's class is
    swapped for a subclass whose ``user`` setter also updates the context.
    """

    _classes: dict[type, type] = {}

    @classmethod
    def wrap(cls, request: HttpRequest) -> None:
        base = type(request)
        if getattr(base, "_pgh_tracks_user", False):
            return
        if base in cls._classes:
            request.__class__ = cls._classes[base]
            return

        def _set_user(self: Any, value: Any) -> None:
            self.__dict__["user"] = value
            if getattr(value, "is_authenticated", False):
                context(user=value.pk)

        def _get_user(self: Any) -> Any:
            try:
                return self.__dict__["user"]
            except KeyError:
                raise AttributeError("user") from None

        cls._classes[base] = type(
            base.__name__,
            (base,),
            {"_pgh_tracks_user": True, "user": property(_get_user, _set_user)},
        )
        request.__class__ = cls._classes[base]


def _metadata(request: HttpRequest) -> dict[str, Any]:
    user: Any = getattr(request, "user", None)
    return {
        "user": user.pk if getattr(user, "is_authenticated", False) else None,
        "url": request.path,
    }


class HistoryMiddleware:
    """Opens a context with ``user`` and ``url`` around every tracked request.

    Override ``get_context(request)`` to record more (e.g. a request id or the client IP).
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
    ) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def get_context(self, request: HttpRequest) -> dict[str, Any]:
        """The metadata recorded for ``request``."""
        return _metadata(request)

    def _prepare(self, request: HttpRequest) -> bool:
        if request.method not in config.middleware_methods():
            return False
        # Keep a lazily-evaluated user (AuthenticationMiddleware) as it is: it resolves inside
        # get_context. A user assigned later (DRF) goes through the tracking property.
        user = request.__dict__.get("user")
        _UserTrackingRequest.wrap(request)
        if user is not None:
            request.__dict__["user"] = user
        return True

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        if not self._prepare(request):
            return self.get_response(request)
        with context(**self.get_context(request)):
            return _keep_context_while_streaming(self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        if not self._prepare(request):
            return await self.get_response(request)  # type: ignore[misc]
        from asgiref.sync import sync_to_async

        metadata = await sync_to_async(self.get_context)(request)
        async with context(**metadata):
            response = await self.get_response(request)  # type: ignore[misc]
            return _keep_context_while_streaming(response)


def _keep_context_while_streaming(response: Any) -> Any:
    """A streaming response's content is produced after the view returned, when the request's
    context is closed: resume it around every chunk, so writes made while streaming (an
    export that logs itself, a generator saving progress) are recorded with the request."""
    if not getattr(response, "streaming", False) or isinstance(response, FileResponse):
        return response
    state = runtime.open_state()
    content = response.streaming_content
    if hasattr(content, "__aiter__"):

        async def agen() -> AsyncIterator[Any]:
            iterator = aiter(content)
            while True:
                with runtime.resumed(state):
                    try:
                        chunk = await anext(iterator)
                    except StopAsyncIteration:
                        return
                yield chunk

        response.streaming_content = agen()
    else:

        def gen() -> Iterator[Any]:
            iterator = iter(content)
            while True:
                with runtime.resumed(state):
                    try:
                        chunk = next(iterator)
                    except StopIteration:
                        return
                yield chunk

        response.streaming_content = gen()
    return response
