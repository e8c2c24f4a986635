"""Processing API."""

from ninja import Router

router = Router(tags=["processing"])
