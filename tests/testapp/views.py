"""Views that write tracked rows, for the middleware tests."""

import asyncio

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from tests.testapp.models import Author, Book, Document


@csrf_exempt
def rename_book(request: HttpRequest, pk: int) -> HttpResponse:
    Book.objects.filter(pk=pk).update(title=request.POST["title"])
    return HttpResponse("ok")


@csrf_exempt
def rename_book_with_token(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    # Served at a password-reset-like path: the token in the path must not be recorded.
    Book.objects.filter(pk=int(request.POST["book"])).update(title=request.POST["title"])
    return HttpResponse("ok")


@csrf_exempt
async def rename_book_async(request: HttpRequest, pk: int) -> HttpResponse:
    await Book.objects.filter(pk=pk).aupdate(title=request.POST["title"])
    return HttpResponse("ok")


@csrf_exempt
def rename_book_late_auth(request: HttpRequest, pk: int) -> HttpResponse:
    # Like DRF's token authentication: the user is set inside the view.
    request.user = get_user_model().objects.get(username=request.POST["username"])
    Book.objects.filter(pk=pk).update(title=request.POST["title"])
    return HttpResponse("ok")


def _write_tokens(request: HttpRequest) -> None:
    token = request.POST["token"]
    Author.objects.filter(name=request.POST["shared"]).update(email=token)
    Document.objects.create(body=token)


@csrf_exempt
def concurrent_write(request: HttpRequest, label: str) -> HttpResponse:
    # For tests/core/test_concurrency.py: writes identified by the POSTed token.
    _write_tokens(request)
    return HttpResponse("ok")


def _write_in_own_thread(token: str) -> None:
    try:
        Document.objects.create(body=f"{token}-thread")
    finally:
        connections.close_all()


@csrf_exempt
async def concurrent_write_async(request: HttpRequest, label: str) -> HttpResponse:
    token = request.POST["token"]
    await Author.objects.filter(name=request.POST["shared"]).aupdate(email=token)
    await asyncio.sleep(0)  # let the other requests run in between
    await Document.objects.acreate(body=token)
    # A thread of its own (its own connection): the request's context follows it.
    await sync_to_async(_write_in_own_thread, thread_sensitive=False)(token)
    return HttpResponse("ok")


def stream_renames(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    # The generator runs after the view returned, while the response is sent.
    def chunks():
        Book.objects.filter(pk=pk).update(title="streamed")
        yield "one"
        yield "two"

    Book.objects.filter(pk=pk).update(title="in the view")
    return StreamingHttpResponse(chunks())


async def stream_renames_async(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    async def chunks():
        await Book.objects.filter(pk=pk).aupdate(title="streamed")
        yield "one"

    await Book.objects.filter(pk=pk).aupdate(title="in the view")
    return StreamingHttpResponse(chunks())
