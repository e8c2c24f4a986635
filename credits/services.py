"""Credit writes: the only way a balance changes.

Every change is one ledger row plus the balance update, in one transaction, with the
balance row locked (``SELECT ... FOR UPDATE``) so concurrent charges queue up instead of
overdrawing. Each row has a unique idempotency key; applying the same key twice is a no-op
that returns the first row, which is what makes retries, duplicate Stripe events and
re-run beat tasks safe.
"""

from __future__ import annotations

import calendar
import logging
import uuid
from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from credits.models import OPEN_STATUSES, CreditBalance, CreditTransaction, Membership, TransactionKind
from credits.plans import FREE, PLANS
from rekindle.exceptions import DomainError

logger = logging.getLogger(__name__)


class InsufficientCredits(DomainError):
    code = "insufficient_credits"
    status = 402


class InvalidAmount(DomainError):
    code = "invalid_amount"
    status = 422


def _locked_balance(user: User) -> CreditBalance:
    CreditBalance.objects.get_or_create(user=user)
    return CreditBalance.objects.select_for_update().get(user=user)


def _apply(
    *,
    user: User,
    amount: int,
    kind: str,
    key: str,
    reason: str,
    job_id: int | None = None,
    stripe_id: str = "",
    created_by: User | None = None,
) -> CreditTransaction:
    """Add a signed amount with its ledger row, once per key."""
    if amount == 0:
        raise InvalidAmount("A credit change cannot be zero.")
    with transaction.atomic():
        balance = _locked_balance(user)
        existing = CreditTransaction.objects.filter(idempotency_key=key).first()
        if existing is not None:
            logger.info("credits change already applied", extra={"user_id": user.pk, "key": key})
            return existing
        new_balance = balance.balance + amount
        if new_balance < 0:
            logger.info(
                "credits refused",
                extra={
                    "user_id": user.pk,
                    "amount": amount,
                    "kind": kind,
                    "key": key,
                    "balance": balance.balance,
                },
            )
            raise InsufficientCredits(
                f"This costs {-amount} credits and you have {balance.balance}. "
                "Buy credits or choose a cheaper option.",
                balance=balance.balance,
                price=-amount,
            )
        try:
            with transaction.atomic():
                row = CreditTransaction.objects.create(
                    user=user,
                    amount=amount,
                    balance_after=new_balance,
                    kind=kind,
                    reason=reason[:200],
                    idempotency_key=key,
                    job_id=job_id,
                    stripe_id=stripe_id,
                    created_by=created_by,
                )
        except IntegrityError:
            # The same key committed by someone else between our check and insert.
            return CreditTransaction.objects.get(idempotency_key=key)
        balance.balance = new_balance
        balance.save(update_fields=["balance", "updated_at"])
    # One line per change, with what an operator needs to trace it (the job as "job": the
    # logging filter owns the "job_id" field for the task's context).
    logger.info(
        "credits changed",
        extra={
            "user_id": user.pk,
            "amount": amount,
            "kind": kind,
            "key": key,
            "balance": new_balance,
            "reason": reason,
            "job": job_id,
            "stripe_id": stripe_id,
            "by": created_by.pk if created_by else None,
        },
    )
    return row


def credits_grant(
    *, user: User, amount: int, key: str, reason: str, kind: str = TransactionKind.GRANT, stripe_id: str = ""
) -> CreditTransaction:
    if amount <= 0:
        raise InvalidAmount("A grant must add at least one credit.")
    return _apply(user=user, amount=amount, kind=kind, key=key, reason=reason, stripe_id=stripe_id)


def credits_charge(*, user: User, amount: int, job_id: int, reason: str) -> CreditTransaction:
    """Take a job's price; raises InsufficientCredits (with balance and price) when short."""
    if amount <= 0:
        raise InvalidAmount("A charge must take at least one credit.")
    return _apply(
        user=user,
        amount=-amount,
        kind=TransactionKind.CHARGE,
        key=f"job:{job_id}:charge",
        reason=reason,
        job_id=job_id,
    )


def credits_refund(*, job_id: int, reason: str, created_by: User | None = None) -> CreditTransaction | None:
    """Give back what a job was charged, at most once; None when it was never charged."""
    charge = (
        CreditTransaction.objects.filter(idempotency_key=f"job:{job_id}:charge")
        .select_related("user")
        .first()
    )
    if charge is None or charge.user is None:
        return None
    return _apply(
        user=charge.user,
        amount=-charge.amount,
        kind=TransactionKind.REFUND,
        key=f"job:{job_id}:refund",
        reason=reason,
        job_id=job_id,
        created_by=created_by,
    )


def credits_forfeit(*, user: User, key: str, reason: str) -> CreditTransaction | None:
    """Take the whole pool (a paid plan ended). One row, whatever the balance; None if empty."""
    with transaction.atomic():
        balance = _locked_balance(user)
        existing = CreditTransaction.objects.filter(idempotency_key=key).first()
        if existing is not None or balance.balance == 0:
            return existing
        return _apply(
            user=user, amount=-balance.balance, kind=TransactionKind.FORFEIT, key=key, reason=reason
        )


def credits_take_back(
    *, user: User, amount: int, key: str, reason: str, stripe_id: str
) -> CreditTransaction | None:
    """Take up to ``amount`` back (a refunded or disputed payment), as far as the balance allows.

    One ``clawback`` row for what was taken; None when the balance is empty (nothing to take).
    The caller records the shortfall. Idempotent per key like every other change.
    """
    if amount <= 0:
        raise InvalidAmount("A clawback must take at least one credit.")
    with transaction.atomic():
        balance = _locked_balance(user)
        existing = CreditTransaction.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        take = min(amount, balance.balance)
        if take == 0:
            return None
        return _apply(
            user=user,
            amount=-take,
            kind=TransactionKind.CLAWBACK,
            key=key,
            reason=reason,
            stripe_id=stripe_id,
        )


def credits_adjust(*, user: User, amount: int, reason: str, admin_user: User) -> CreditTransaction:
    """A staff correction, always with a reason."""
    if not reason.strip():
        raise InvalidAmount("An adjustment needs a reason.")
    return _apply(
        user=user,
        amount=amount,
        kind=TransactionKind.ADJUSTMENT,
        key=f"admin:{uuid.uuid4().hex}",
        reason=reason.strip(),
        created_by=admin_user,
    )


# --- Free monthly grants ---------------------------------------------------------------


def anniversary(joined: date, months: int) -> date:
    """The date ``months`` after ``joined``, on the last day of shorter months (31 Jan → 28/29 Feb)."""
    year, month = divmod(joined.month - 1 + months, 12)
    year += joined.year
    month += 1
    return date(year, month, min(joined.day, calendar.monthrange(year, month)[1]))


def free_period_start(joined: date, today: date) -> date:
    """The start of the free monthly period that contains ``today``."""
    months = (today.year - joined.year) * 12 + (today.month - joined.month)
    start = anniversary(joined, max(0, months))
    if start > today:
        start = anniversary(joined, max(0, months - 1))
    return start


def _free_grant_key(user_id: int, period_start: date) -> str:
    return f"grant:{user_id}:free:{period_start.isoformat()}"


def credits_grant_free_month(*, user: User, today: date | None = None) -> CreditTransaction | None:
    """The Free plan's 3 credits for the current monthly period, once per (user, period)."""
    # Free credits wait for a proven address, so scripted sign-ups cannot drain the free tier.
    if not user.email_confirmed:
        return None
    # A subscriber gets the plan's credits, not Free ones (also while a payment is outstanding).
    if Membership.objects.filter(user=user, status__in=OPEN_STATUSES).exists():
        return None
    today = today or timezone.now().date()
    start = free_period_start(timezone.localdate(user.date_joined), today)
    return credits_grant(
        user=user,
        amount=PLANS[FREE].monthly_credits,
        key=_free_grant_key(user.pk, start),
        reason=f"Free plan credits for the month from {start:%-d %b %Y}",
    )


def credits_grant_free_months_due(*, today: date | None = None) -> int:
    """Beat task body: every free user whose period started gets their grant (idempotent).

    Grants already made recently are read in one query, so a daily run only opens a
    transaction for people whose anniversary came; the idempotency key still decides.
    Returns how many grants were new.
    """
    started, count = timezone.now(), 0
    today = today or started.date()
    recent = set(
        CreditTransaction.objects.filter(
            kind=TransactionKind.GRANT,
            idempotency_key__startswith="grant:",
            idempotency_key__contains=":free:",
            created_at__gte=started - timedelta(days=40),
        ).values_list("idempotency_key", flat=True)
    )
    subscribers = Membership.objects.filter(status__in=OPEN_STATUSES).values("user_id")
    free_users = (
        User.objects.filter(is_active=True, email_confirmed_at__isnull=False)
        .exclude(pk__in=subscribers)
        .only("pk", "date_joined", "email_confirmed_at")
    )
    for user in free_users.iterator():
        start = free_period_start(timezone.localdate(user.date_joined), today)
        if _free_grant_key(user.pk, start) in recent:
            continue
        row = credits_grant_free_month(user=user, today=today)
        count += bool(row and row.created_at >= started)
    return count
