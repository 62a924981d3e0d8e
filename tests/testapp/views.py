"""Views that write tracked rows, for the middleware tests."""

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from tests.testapp.models import Book


@csrf_exempt
def rename_book(request: HttpRequest, pk: int) -> HttpResponse:
    Book.objects.filter(pk=pk).update(title=request.POST["title"])
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
