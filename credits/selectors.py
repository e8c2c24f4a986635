"""Credit reads: balance, tier, ledger, next grant."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from credits.models import PAID_STATUSES, CreditBalance, CreditTransaction, Membership, SubscriptionStatus
from credits.plans import FREE, PLANS, Plan
from credits.services import anniversary, free_period_start


def credit_balance(*, user: User) -> int:
    row = CreditBalance.objects.filter(user=user).values_list("balance", flat=True).first()
    return row or 0


def _membership(user: User) -> Membership | None:
    return Membership.objects.filter(user=user, status__in=PAID_STATUSES).first()


def user_tier(*, user: User) -> str:
    """The person's tier: "free" or the active paid plan's slug."""
    membership = _membership(user)
    return membership.plan if membership and membership.plan in PLANS else FREE


def user_is_paid(*, user: User) -> bool:
    return user_tier(user=user) != FREE


def user_plan(*, user: User) -> Plan:
    return PLANS[user_tier(user=user)]


def credit_ledger_for_user(*, user: User) -> QuerySet[CreditTransaction]:
    return CreditTransaction.objects.filter(user=user).order_by("-created_at", "-id")


def next_grant_date(*, user: User, today: date | None = None) -> date | None:
    """When the next monthly credits arrive; None when a cancelled plan ends first.

    Free: the next sign-up anniversary. Monthly plans: the renewal. Annual plans: the next
    monthly anniversary of the paid year (the last one is the renewal itself).
    """
    today = today or timezone.now().date()
    membership = _membership(user)
    if membership is not None:
        if membership.current_period_start is None:
            return None
        end = membership.current_period_end.date() if membership.current_period_end else None
        if membership.interval == "year":
            first = membership.current_period_start.date()
            upcoming = [anniversary(first, m) for m in range(1, 13)]
            candidate = next((d for d in upcoming if d > today), upcoming[-1])
        else:
            candidate = end
        if membership.status == SubscriptionStatus.CANCELLING and end and candidate and candidate >= end:
            return None
        return candidate
    if Membership.objects.filter(user=user, status=SubscriptionStatus.SUSPENDED).exists():
        return None  # nothing arrives until the plan is paid
    joined = timezone.localdate(user.date_joined)
    start = free_period_start(joined, today)
    months = (start.year - joined.year) * 12 + (start.month - joined.month)
    return anniversary(joined, months + 1)
