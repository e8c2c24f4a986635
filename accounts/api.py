"""Accounts API: who am I, and my preferences."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from accounts.models import User
from accounts.services import user_update_preferences
from credits.selectors import credit_balance, user_tier

router = Router(tags=["me"])


class MeOut(Schema):
    id: int
    email: str
    name: str
    date_joined: datetime
    notify_by_email: bool
    # Credits and tier, so a script knows what it can afford and how its jobs are queued.
    balance: int
    tier: str

    @staticmethod
    def resolve_balance(obj: User) -> int:
        return credit_balance(user=obj)

    @staticmethod
    def resolve_tier(obj: User) -> str:
        return user_tier(user=obj)


class MeIn(Schema):
    name: str | None = Field(default=None, max_length=150)
    notify_by_email: bool | None = None


@router.get("/me", response=MeOut, summary="The signed-in account")
def me(request: HttpRequest) -> object:
    return request.user


@router.patch("/me", response=MeOut, summary="Change your name or email notifications")
def me_update(request: HttpRequest, payload: MeIn) -> object:
    user = request.user
    return user_update_preferences(
        user=user,
        name=payload.name if payload.name is not None else user.name,
        notify_by_email=payload.notify_by_email
        if payload.notify_by_email is not None
        else user.notify_by_email,
    )
