"""Rate limits on the shared cache, keyed by whatever a view limits by (an address, an email).

Built on django-ninja's ``SimpleRateThrottle`` (the same machinery as the upload limit in
``photos.throttling``), so the rate strings ("10/h") and the sliding window are the same
everywhere. Identifiers are hashed before they become cache keys: an email address must not
sit in Redis in clear text.
"""

from __future__ import annotations

import hashlib

from django.http import HttpRequest
from ninja.throttling import SimpleRateThrottle


class KeyedRateThrottle(SimpleRateThrottle):
    """At most ``rate`` requests per ``ident`` in ``scope``; an empty ident is not limited."""

    def __init__(self, *, scope: str, rate: str, ident: str) -> None:
        self.scope = scope
        self.ident = ident
        super().__init__(rate)

    def get_cache_key(self, request: HttpRequest) -> str | None:
        if not self.ident:
            return None
        digest = hashlib.sha256(self.ident.encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": digest}


def rate_limit_allows(request: HttpRequest, *, scope: str, rate: str, ident: str) -> bool:
    """Count this request against ``ident`` and say whether it is still within ``rate``.

    A refused request is not counted, so waiting out the window always lets the next one in.
    """
    return KeyedRateThrottle(scope=scope, rate=rate, ident=ident).allow_request(request)
