"""The offline page the service worker caches at install: the same page for everyone, and an
answer that never touches the CSRF cookie."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _page_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_a_late_offline_page_does_not_undo_the_token_a_sign_in_rotated(user, password) -> None:
    browser = Client(enforce_csrf_checks=True)
    login_page = browser.get(reverse("accounts:login")).content.decode()
    cookie_before_sign_in = browser.cookies["csrftoken"].value
    # The login page registers the service worker, whose install fetches /offline/ with the
    # cookie of that moment; the person signs in before that answer comes back.
    late = Client()
    late.cookies["csrftoken"] = cookie_before_sign_in
    response = browser.post(
        reverse("accounts:login"),
        {"username": user.email, "password": password, "csrfmiddlewaretoken": _page_token(login_page)},
    )
    assert response.status_code == 302
    assert browser.cookies["csrftoken"].value != cookie_before_sign_in  # a sign-in rotates it
    upload_page = browser.get(reverse("photos:new")).content.decode()

    offline = late.get(reverse("offline"))
    browser.cookies.update(offline.cookies)  # what the browser does with the late answer

    assert offline.status_code == 200 and "csrftoken" not in offline.cookies
    # So the upload page's token still matches the cookie (it used to fail with 403).
    signed_out = browser.post(reverse("accounts:logout"), {"csrfmiddlewaretoken": _page_token(upload_page)})
    assert signed_out.status_code == 302


def test_the_offline_page_names_nobody_and_carries_no_token(signed_in_client: Client, user) -> None:
    offline = signed_in_client.get(reverse("offline"))

    html = offline.content.decode()
    assert "You're offline" in html
    assert "Sign out" not in html and "csrfmiddlewaretoken" not in html and user.email not in html
    assert not offline.cookies
