"""Credits API: balance and tier, and the ledger (paginated)."""

from __future__ import annotations

from datetime import date, datetime

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.pagination import PageNumberPagination, paginate

from credits.plans import JOB_PRICES
from credits.selectors import credit_balance, credit_ledger_for_user, next_grant_date, user_plan

router = Router(tags=["credits"])


class CreditsOut(Schema):
    balance: int
    tier: str
    plan: str
    monthly_credits: int
    next_grant_on: date | None
    prices: dict[str, int]


class LedgerRowOut(Schema):
    id: int
    amount: int
    balance_after: int
    kind: str
    reason: str
    job_id: int | None
    created_at: datetime


@router.get("", response=CreditsOut, summary="Your balance, tier and prices")
def credits(request: HttpRequest) -> dict[str, object]:
    plan = user_plan(user=request.user)
    return {
        "balance": credit_balance(user=request.user),
        "tier": plan.slug,
        "plan": plan.name,
        "monthly_credits": plan.monthly_credits,
        "next_grant_on": next_grant_date(user=request.user),
        "prices": {k: v for k, v in JOB_PRICES.items() if k in ("restore", "colourize", "restore_colourize")},
    }


@router.get("/ledger", response=list[LedgerRowOut], summary="Every change to your credits, newest first")
@paginate(PageNumberPagination, page_size=50)
def ledger(request: HttpRequest) -> object:
    return credit_ledger_for_user(user=request.user)
