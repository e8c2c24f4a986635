"""Photos API."""

from ninja import Router

router = Router(tags=["photos"])
