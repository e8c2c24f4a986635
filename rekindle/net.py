"""The client's address, the one way every part of the site reads it.

Login throttling (django-axes), every rate limit (django-ninja throttles, the report form) and
anything else that counts "per address" call ``client_ip``. ``TRUSTED_PROXIES`` says how many
proxies in front of us append to ``X-Forwarded-For``: with 0 (``make run``, no proxy) the
header is ignored and ``REMOTE_ADDR`` is the client; with N, the Nth address from the right is
the one our outermost trusted proxy saw. Anything left of it was written by the client and can
be forged, so it is never used.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

UNKNOWN = "0.0.0.0"  # noqa: S104 -- a placeholder address for a request without one, never bound


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The address of the client, as the last proxy we trust saw it."""
    remote = _valid_ip(request.META.get("REMOTE_ADDR")) or UNKNOWN
    trusted = settings.TRUSTED_PROXIES
    if trusted <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < trusted:
        # Fewer hops than proxies: the request did not come through all of them.
        return remote
    return _valid_ip(hops[-trusted]) or remote


class ClientIpThrottleMixin:
    """For django-ninja throttles: count per ``client_ip`` (ninja's own reading of the header
    keys on the whole, forgeable ``X-Forwarded-For`` unless told how many proxies to trust)."""

    def get_ident(self, request: HttpRequest) -> str:
        return client_ip(request)


def axes_client_str(
    username: str | None, ip_address: str, user_agent: str, path_info: str, request: HttpRequest
) -> str:
    """What django-axes writes in its log lines: the address and path, never the username
    (an email address) that was typed."""
    return f'{{ip_address: "{ip_address}", path_info: "{path_info}"}}'
