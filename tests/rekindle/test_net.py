"""The one client address: REMOTE_ADDR without trusted proxies, else the address the outermost
trusted proxy saw; never the part of X-Forwarded-For a client can write."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from rekindle.net import UNKNOWN, client_ip


def _request(remote: str = "10.0.0.1", forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = 0
    assert client_ip(_request("198.51.100.7", "203.0.113.1")) == "198.51.100.7"


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        (1, "203.0.113.1", "203.0.113.1"),
        # The client wrote the left part; our proxy appended what it saw.
        (1, "1.2.3.4, 203.0.113.1", "203.0.113.1"),
        (2, "1.2.3.4, 203.0.113.1, 10.0.0.9", "203.0.113.1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_with_trusted_proxies_the_address_the_last_one_saw_is_used(settings, trusted, forwarded, expected):
    settings.TRUSTED_PROXIES = trusted
    assert client_ip(_request("10.0.0.1", forwarded)) == expected


@pytest.mark.parametrize("forwarded", [None, "", "203.0.113.1", "not-an-address, nonsense"])
def test_a_short_missing_or_invalid_header_falls_back_to_the_peer(settings, forwarded):
    settings.TRUSTED_PROXIES = 2
    assert client_ip(_request("10.0.0.1", forwarded)) == "10.0.0.1"


def test_a_request_without_any_address_gets_a_placeholder(settings):
    settings.TRUSTED_PROXIES = 0
    request = RequestFactory().get("/")
    del request.META["REMOTE_ADDR"]
    assert client_ip(request) == UNKNOWN
