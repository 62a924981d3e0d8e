"""An htmx request whose session has ended is sent to the login page with ``HX-Redirect``."""

from urllib.parse import parse_qs, urlsplit

import pytest

from pghistory_core.models import Events

pytestmark = pytest.mark.django_db

AUDIT_LOG = "/admin/pghistory_admin/auditlog/"


def hx_get(client, url, current_url, **extra):
    return client.get(
        url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{current_url}", **extra
    )


def redirect_next(response):
    """The ``next`` of the login URL in ``HX-Redirect``."""
    target = urlsplit(response["HX-Redirect"])
    assert target.path == "/admin/login/"
    return parse_qs(target.query)["next"][0]


def test_filter_swap_of_a_logged_out_user_returns_to_the_filtered_page(client, history):
    response = hx_get(client, f"{AUDIT_LOG}?user=root&model=testapp.book", AUDIT_LOG)
    assert response.status_code == 200
    assert response.content == b""
    # The swap would have pushed the filtered URL: the login brings the user there.
    assert redirect_next(response) == f"{AUDIT_LOG}?user=root&model=testapp.book"
    assert "no-cache" in response["Cache-Control"]


def test_row_expansion_of_a_logged_out_user_returns_to_the_audit_log(client, history):
    book = history["book"]
    page = f"{AUDIT_LOG}?model=testapp.book"
    pgh_id = Events.objects.tracks(book).order_by("-pgh_id").values_list("pgh_id", flat=True)[0]
    response = hx_get(client, f"{AUDIT_LOG}{pgh_id}/diff/", page)
    assert response.status_code == 200
    assert response.content == b""
    # The diff was loaded into the page: the user comes back to the page, not to the diff.
    assert redirect_next(response) == page


def test_timeline_page_of_a_logged_out_user(client, history):
    url = f"/admin/testapp/book/{history['book'].pk}/history/"
    response = hx_get(client, f"{url}?before=999999", url)
    assert redirect_next(response) == f"{url}?before=999999"


def test_a_staff_user_who_lost_staff_status_is_sent_to_login_too(client, history, make_staff):
    user = make_staff("former", "testapp.view_book")
    client.force_login(user)
    user.is_staff = False
    user.save()
    response = hx_get(client, f"{AUDIT_LOG}?model=testapp.book", AUDIT_LOG)
    assert redirect_next(response) == f"{AUDIT_LOG}?model=testapp.book"


def test_a_foreign_current_url_is_not_used_as_next(client, history):
    response = client.get(
        f"{AUDIT_LOG}1/diff/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="https://evil.example/phish",
    )
    assert redirect_next(response) == f"{AUDIT_LOG}1/diff/"


def test_requests_without_htmx_still_get_the_admins_redirect(client, history):
    response = client.get(f"{AUDIT_LOG}?model=testapp.book")
    assert response.status_code == 302
    assert "HX-Redirect" not in response
    assert response["Location"].startswith("/admin/login/?next=")
    url = f"/admin/testapp/book/{history['book'].pk}/history/"
    assert client.get(url).status_code == 302


def test_a_logged_in_user_gets_the_partial(root_client, history):
    response = hx_get(root_client, f"{AUDIT_LOG}?model=testapp.book", AUDIT_LOG)
    assert "HX-Redirect" not in response
    assert b'id="pgh-table"' in response.content
    url = f"/admin/testapp/book/{history['book'].pk}/history/"
    response = hx_get(root_client, url, url)
    assert "HX-Redirect" not in response
    assert b"pgh-timeline" in response.content
