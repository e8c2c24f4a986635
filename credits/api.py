"""Credits API."""

from ninja import Router

router = Router(tags=["credits"])
