"""The per-person upload rate limit, shared by the API and the upload page.

One django-ninja ``UserRateThrottle`` on the shared cache: the same counter whichever way a
photo arrives (API, page form, phone hand-off), keyed by the library owner.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja.throttling import UserRateThrottle

from rekindle.net import ClientIpThrottleMixin

RATE_LIMITED_MESSAGE = (
    "You have uploaded a lot of photos in a short time: please wait a little and try again."
)


class UploadThrottle(ClientIpThrottleMixin, UserRateThrottle):
    """Uploads per person (photos and presigned slots), on the shared cache; per client address
    for a request without a person (``rekindle.net.client_ip``)."""

    scope = "photo-upload"

    def __init__(self) -> None:
        super().__init__(settings.PHOTO_UPLOAD_RATE)

    def allow_request(self, request: HttpRequest) -> bool:
        # Read the rate on each request, so a changed setting applies without a restart.
        self.rate = settings.PHOTO_UPLOAD_RATE
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request)
