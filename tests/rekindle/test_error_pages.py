"""With DEBUG off (production and `make run`), people see our own 404 and 500 pages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import path

import rekindle.urls


def _broken_view(request):
    raise RuntimeError("something broke")


urlpatterns = [*rekindle.urls.urlpatterns, path("broken/", _broken_view)]

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_our_own_404(client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "We can&#x27;t find that page" in html or "We can't find that page" in html
    assert "URLconf" not in html and "Django" not in html


def test_a_crash_is_our_own_500(settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = __name__
    response = Client(raise_request_exception=False).get("/broken/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert "Traceback" not in html and "something broke" not in html
