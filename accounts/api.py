"""Accounts API: who am I."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

router = Router(tags=["me"])


class MeOut(Schema):
    id: int
    email: str
    name: str
    date_joined: datetime
    notify_by_email: bool


@router.get("/me", response=MeOut, summary="The signed-in account")
def me(request: HttpRequest) -> object:
    return request.user
