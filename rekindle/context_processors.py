"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    return {
        "AUTH0_ENABLED": settings.AUTH0_ENABLED,
        "STRIPE_ENABLED": settings.STRIPE_ENABLED,
    }
