"""Stripe billing services: Checkout, the Billing Portal, and what verified webhooks change.

Credits never come from a browser: the Checkout success page only says thanks. They come
from dj-stripe's signature-verified webhook events, which ``credits/webhooks.py`` turns into
calls to the services here. Stripe delivers events more than once and in any order, so:

- every grant has an idempotency key: ``stripe:checkout:<session>`` for top-ups and
  ``plan:<subscription>:<YYYY-MM>`` for plan credits, keyed by the calendar month the credits
  are for, so switching monthly ↔ yearly (or plan ↔ plan) in the Billing Portal never grants a
  month twice; an upgrade within a month adds the difference once
  (``plan:<subscription>:<YYYY-MM>:upgrade:<plan>``);
- the Membership's plan and status follow the newest event (by Stripe's own ``created``
  time), its period the latest period seen;
- an ended subscription is remembered (``EndedSubscription``); nothing that arrives for it
  later grants credits or brings the membership back.

Customers: dj-stripe's ``Customer`` with ``subscriber=user``. It needs no model of ours, its
creation carries a stored Stripe idempotency key (a double click cannot make two customers
at Stripe), and dj-stripe's own event handlers find it locally instead of fetching it.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from djstripe.models import (
    Charge,
    Customer,
    Event,
    Invoice,
    PaymentIntent,
    PaymentMethod,
    Session,
    SetupIntent,
    Source,
    Subscription,
    WebhookEventTrigger,
)

from accounts.models import User
from credits.models import (
    OPEN_STATUSES,
    PAID_STATUSES,
    Clawback,
    ClawbackCause,
    CreditTransaction,
    EndedSubscription,
    Membership,
    StripePayment,
    SubscriptionStatus,
    TransactionKind,
)
from credits.plans import PLANS, Plan, UnknownPlan, plan_for, topup_for
from credits.services import anniversary, credits_forfeit, credits_grant, credits_take_back
from rekindle.exceptions import DomainError

logger = logging.getLogger(__name__)

INTERVALS = ("month", "year")
# Stripe statuses that still give the plan's benefits, and the ones that mean it is over.
LIVE_STATUSES = ("active", "trialing", "past_due")
ENDED_STATUSES = ("canceled", "incomplete_expired")
# Still a subscription, but not paid for: benefits pause, credits stay.
SUSPENDED_STATUSES = ("unpaid", "paused", "incomplete")
# Invoices that pay for a period of the plan: the first, each renewal, and a change made in the
# Billing Portal (an interval switch starts a new period; an upgrade pays for a better plan).
# The calendar-month key makes a change within an already granted month add at most the
# difference to the better plan.
GRANTING_BILLING_REASONS = ("subscription_create", "subscription_cycle", "subscription_update")


class PaymentsNotConfigured(DomainError):
    code = "payments_not_configured"
    status = 503


class AlreadySubscribed(DomainError):
    code = "already_subscribed"
    status = 409


class NoBillingAccount(DomainError):
    code = "no_billing_account"
    status = 409


# --- Helpers -------------------------------------------------------------------------


def _api_key() -> str:
    if not settings.STRIPE_ENABLED:
        raise PaymentsNotConfigured(
            "Payments are not configured on this server. An administrator can add credits to your account."
        )
    return settings.STRIPE_SECRET_KEY


def _price_or_fail(price_id: str, what: str) -> str:
    if not price_id:
        raise PaymentsNotConfigured(f"{what} cannot be bought yet: its Stripe price is not configured.")
    return price_id


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def _id(value: Any) -> str:
    """A Stripe reference is an id string or an expanded object with an id."""
    if isinstance(value, dict):
        return value.get("id") or ""
    return value or ""


def plan_for_price(price_id: str) -> tuple[Plan, str] | None:
    """(plan, interval) for a configured Stripe price id, e.g. "remember_year" → Remember, year."""
    for name, configured in settings.STRIPE_PRICE_IDS.items():
        slug, _, interval = name.rpartition("_")
        if configured == price_id and slug in PLANS and interval in INTERVALS:
            return PLANS[slug], interval
    return None


def user_for_customer(customer_id: str) -> User | None:
    """Our person behind a Stripe customer id, or None (logged) when it is not one of ours."""
    customer = Customer.objects.filter(id=customer_id).select_related("subscriber").first()
    if customer is None or customer.subscriber is None:
        logger.warning("stripe event for unknown customer", extra={"customer": customer_id})
        return None
    return customer.subscriber


def stripe_customer_for_user(*, user: User) -> Customer:
    """The person's Stripe customer, created once (the user row lock serialises double clicks)."""
    api_key = _api_key()
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)
        customer, created = Customer.get_or_create(subscriber=user, api_key=api_key)
    if created:
        logger.info("stripe customer created", extra={"user_id": user.pk, "customer": customer.id})
    return customer


def membership_for_user(*, user: User) -> Membership | None:
    """The person's subscription while it exists at Stripe (paid, ending, or payment outstanding)."""
    return Membership.objects.filter(user=user, status__in=OPEN_STATUSES).first()


# --- Checkout and the portal -----------------------------------------------------------


def checkout_topup(*, user: User, pack_slug: str, success_url: str, cancel_url: str) -> str:
    """A Stripe Checkout (payment mode) URL for a credit pack; credits arrive by webhook."""
    pack = topup_for(pack_slug)
    api_key = _api_key()
    price = _price_or_fail(pack.stripe_price_id, f"The {pack.credits}-credit pack")
    customer = stripe_customer_for_user(user=user)
    session = stripe.checkout.Session.create(
        api_key=api_key,
        mode="payment",
        customer=customer.id,
        line_items=[{"price": price, "quantity": 1}],
        client_reference_id=str(user.pk),
        metadata={"user_id": str(user.pk), "pack": pack.slug},
        success_url=success_url,
        cancel_url=cancel_url,
    )
    logger.info("checkout started", extra={"user_id": user.pk, "pack": pack.slug, "session": session.id})
    return session.url


def checkout_subscription(
    *, user: User, plan_slug: str, interval: str, success_url: str, cancel_url: str
) -> str:
    """A Stripe Checkout (subscription mode) URL for a paid plan; changes go through the portal."""
    plan = plan_for(plan_slug)
    if not plan.is_paid:
        raise UnknownPlan("The Free plan needs no payment.", plans=[p for p in PLANS if PLANS[p].is_paid])
    if interval not in INTERVALS:
        raise UnknownPlan(f"Plans are billed monthly or yearly, not “{interval}”.", intervals=list(INTERVALS))
    api_key = _api_key()
    price = _price_or_fail(plan.stripe_price_id(interval), f"The {plan.name} plan ({interval}ly)")
    if membership_for_user(user=user) is not None:
        raise AlreadySubscribed("You already have a plan. Change it from “Manage or cancel”.")
    customer = stripe_customer_for_user(user=user)
    metadata = {"user_id": str(user.pk), "plan": plan.slug, "interval": interval}
    session = stripe.checkout.Session.create(
        api_key=api_key,
        mode="subscription",
        customer=customer.id,
        line_items=[{"price": price, "quantity": 1}],
        client_reference_id=str(user.pk),
        metadata=metadata,
        subscription_data={"metadata": metadata},
        success_url=success_url,
        cancel_url=cancel_url,
    )
    logger.info("checkout started", extra={"user_id": user.pk, "plan": plan.slug, "session": session.id})
    return session.url


def billing_portal(*, user: User, return_url: str) -> str:
    """A Stripe Billing Portal URL where the person changes or cancels their plan."""
    api_key = _api_key()
    customer = Customer.objects.filter(subscriber=user).first()
    if customer is None:
        raise NoBillingAccount("You have no paid plan or purchases to manage yet.")
    session = stripe.billing_portal.Session.create(
        api_key=api_key, customer=customer.id, return_url=return_url
    )
    return session.url


# --- What verified webhook events change -------------------------------------------------


def topup_checkout_paid(*, session: dict[str, Any]) -> None:
    """A paid payment-mode Checkout session: the pack's credits, once per session."""
    if session.get("mode") != "payment" or session.get("payment_status") != "paid":
        # Delayed methods (bank debits) complete unpaid; async_payment_succeeded follows.
        logger.info("checkout session not paid yet", extra={"session": session.get("id")})
        return
    user = user_for_customer(_id(session.get("customer")))
    if user is None:
        return
    metadata = session.get("metadata") or {}
    if metadata.get("user_id") not in (None, str(user.pk)):
        logger.error("checkout session user mismatch", extra={"session": session["id"], "user_id": user.pk})
        return
    try:
        pack = topup_for(metadata.get("pack", ""))
    except UnknownPlan:
        logger.error(
            "checkout session for unknown pack", extra={"session": session["id"], "metadata": metadata}
        )
        return
    with transaction.atomic():
        payment = _payment_record(
            source_id=session["id"],
            user=user,
            kind=StripePayment.Kind.TOPUP,
            payment_intent=_id(session.get("payment_intent")),
            amount_cents=session.get("amount_total") or 0,
        )
        credits_grant(
            user=user,
            amount=pack.credits,
            key=f"stripe:checkout:{session['id']}",
            reason=f"Bought {pack.credits} credits",
            kind=TransactionKind.TOPUP,
            stripe_id=session["id"],
        )
        _clawbacks_pending_apply(payment)


def _subscription_period(sub: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """Newer Stripe API versions keep the period on the subscription's items."""
    start, end = sub.get("current_period_start"), sub.get("current_period_end")
    if not start:
        items = (sub.get("items") or {}).get("data") or [{}]
        start, end = items[0].get("current_period_start"), items[0].get("current_period_end")
    return _ts(start), _ts(end)


def _subscription_plan(sub: dict[str, Any]) -> tuple[Plan, str] | None:
    for item in (sub.get("items") or {}).get("data") or []:
        found = plan_for_price(_id(item.get("price")))
        if found:
            return found
    metadata = sub.get("metadata") or {}
    if metadata.get("plan") in PLANS and metadata.get("interval") in INTERVALS:
        return PLANS[metadata["plan"]], metadata["interval"]
    return None


def _lock_membership(user: User) -> Membership | None:
    return Membership.objects.select_for_update().filter(user=user).first()


def _adopt(
    membership: Membership | None, *, user: User, subscription_id: str, plan: Plan, interval: str
) -> Membership:
    """The membership row now follows this subscription (a person has one row, reused)."""
    membership = membership or Membership(user=user)
    membership.stripe_subscription_id = subscription_id
    membership.plan, membership.interval = plan.slug, interval
    membership.status = SubscriptionStatus.ACTIVE
    membership.current_period_start = membership.current_period_end = None
    membership.stripe_event_at = membership.ended_at = None
    return membership


def _other_subscription_is_live(membership: Membership | None, subscription_id: str) -> bool:
    return bool(membership and membership.is_active and membership.stripe_subscription_id != subscription_id)


def membership_apply_subscription(*, sub: dict[str, Any], event_at: datetime) -> Membership | None:
    """A subscription snapshot from an event: plan, status and period; ending forfeits the pool."""
    sub_id = sub["id"]
    user = user_for_customer(_id(sub.get("customer")))
    if user is None:
        return None
    status = sub.get("status")
    ended = status in ENDED_STATUSES
    if not ended and status not in LIVE_STATUSES + SUSPENDED_STATUSES:
        logger.info("subscription status ignored", extra={"subscription": sub_id, "status": status})
        return None
    found = _subscription_plan(sub)
    if found is None:
        logger.error("subscription for an unknown price", extra={"subscription": sub_id})
        return None
    plan, interval = found
    start, end = _subscription_period(sub)
    with transaction.atomic():
        membership = _lock_membership(user)
        if EndedSubscription.objects.filter(stripe_subscription_id=sub_id).exists():
            logger.info("event for an ended subscription ignored", extra={"subscription": sub_id})
            return membership
        if _other_subscription_is_live(membership, sub_id):
            if ended:
                EndedSubscription.objects.create(
                    stripe_subscription_id=sub_id, user=user, ended_at=_ts(sub.get("ended_at")) or event_at
                )
            logger.warning(
                "second subscription for one person", extra={"subscription": sub_id, "user_id": user.pk}
            )
            return membership
        if membership is None or membership.stripe_subscription_id != sub_id:
            membership = _adopt(membership, user=user, subscription_id=sub_id, plan=plan, interval=interval)
        if start and (membership.current_period_start is None or start >= membership.current_period_start):
            membership.current_period_start, membership.current_period_end = start, end
        if membership.stripe_event_at is None or event_at >= membership.stripe_event_at or ended:
            membership.plan, membership.interval = plan.slug, interval
            cancelling = sub.get("cancel_at_period_end") or sub.get("cancel_at")
            if status in SUSPENDED_STATUSES:
                membership.status = SubscriptionStatus.SUSPENDED
            else:
                membership.status = SubscriptionStatus.CANCELLING if cancelling else SubscriptionStatus.ACTIVE
            membership.stripe_event_at = max(filter(None, [event_at, membership.stripe_event_at]))
        if ended:
            membership.status = SubscriptionStatus.ENDED
            membership.ended_at = _ts(sub.get("ended_at")) or event_at
            EndedSubscription.objects.create(
                stripe_subscription_id=sub_id, user=user, ended_at=membership.ended_at
            )
        membership.save()
        if ended:
            credits_forfeit(
                user=user,
                key=f"forfeit:{sub_id}",
                reason=f"Your {plan.name} plan ended; unused credits are forfeited",
            )
    logger.info(
        "membership updated", extra={"user_id": user.pk, "subscription": sub_id, "status": membership.status}
    )
    return membership


def _invoice_subscription_id(invoice: dict[str, Any]) -> str:
    parent = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _id(invoice.get("subscription")) or _id(parent.get("subscription"))


def _invoice_line(invoice: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The invoice line that pays for the plan, with its price id (old and new API shapes)."""
    for line in (invoice.get("lines") or {}).get("data") or []:
        if (line.get("amount") or 0) < 0:
            continue  # "unused time on <old plan>" on a change: the new plan's line pays
        pricing = (line.get("pricing") or {}).get("price_details") or {}
        price_id = _id(line.get("price")) or _id(pricing.get("price"))
        if price_id and plan_for_price(price_id):
            return line, price_id
    return None


def subscription_invoice_paid(*, invoice: dict[str, Any], event_at: datetime) -> None:
    """A paid subscription invoice: the plan's credits for the month its period starts in."""
    sub_id = _invoice_subscription_id(invoice)
    if not sub_id:
        return
    user = user_for_customer(_id(invoice.get("customer")))
    if user is None:
        return
    if invoice.get("billing_reason") not in GRANTING_BILLING_REASONS:
        logger.info(
            "invoice grants nothing",
            extra={"invoice": invoice.get("id"), "reason": invoice.get("billing_reason")},
        )
        return
    found = _invoice_line(invoice)
    if found is None:
        logger.error("paid invoice without a known plan price", extra={"invoice": invoice.get("id")})
        return
    line, price_id = found
    plan, interval = plan_for_price(price_id)  # type: ignore[misc]  # checked by _invoice_line
    start, end = _ts(line["period"]["start"]), _ts(line["period"]["end"])
    with transaction.atomic():
        membership = _lock_membership(user)
        if EndedSubscription.objects.filter(stripe_subscription_id=sub_id).exists():
            logger.warning(
                "invoice paid after the subscription ended: no credits", extra={"subscription": sub_id}
            )
            return
        if _other_subscription_is_live(membership, sub_id):
            logger.warning(
                "invoice for a second subscription", extra={"subscription": sub_id, "user_id": user.pk}
            )
            return
        if membership is None or membership.stripe_subscription_id != sub_id:
            membership = _adopt(membership, user=user, subscription_id=sub_id, plan=plan, interval=interval)
        # A change's line runs from the change (prorated), not from the period's start: the
        # period then comes from the subscription's own snapshot.
        changed = invoice.get("billing_reason") == "subscription_update"
        if not changed and (
            membership.current_period_start is None or start >= membership.current_period_start
        ):
            membership.current_period_start, membership.current_period_end = start, end
        membership.save()
        payment = _payment_record(
            source_id=invoice["id"],
            user=user,
            kind=StripePayment.Kind.PLAN,
            payment_intent=_invoice_payment_intent(invoice),
            amount_cents=invoice.get("amount_paid") or 0,
            subscription_id=sub_id,
            billing_reason=invoice.get("billing_reason") or "",
            period_start=start.date(),
            period_end=end.date() if end else None,
        )
        _grant_plan_month(
            user=user, plan=plan, subscription_id=sub_id, month_start=start.date(), stripe_id=invoice["id"]
        )
        _clawbacks_pending_apply(payment)


def _plan_month_key(subscription_id: str, month: date) -> str:
    return f"plan:{subscription_id}:{month:%Y-%m}"


def _plan_month_granted(*, user: User, subscription_id: str, month: date) -> int:
    """Credits this subscription already got for the calendar month (base grant and upgrades)."""
    key = _plan_month_key(subscription_id, month)
    rows = CreditTransaction.objects.filter(
        Q(idempotency_key=key)
        | Q(idempotency_key__startswith=f"{key}:upgrade:")
        # Keys written before grants were keyed by calendar month ("grant:<user>:<sub>:<day>").
        | Q(idempotency_key__startswith=f"grant:{user.pk}:{subscription_id}:{month:%Y-%m}-")
    )
    return rows.aggregate(total=Sum("amount"))["total"] or 0


def _grant_plan_month(
    *,
    user: User,
    plan: Plan,
    subscription_id: str,
    month_start: date,
    stripe_id: str = "",
    top_up: bool = True,
) -> CreditTransaction | None:
    """The plan's credits for the calendar month of ``month_start``, once per (subscription, month).

    A month already granted for a smaller plan gets the difference once (an upgrade); a month
    granted for an equal or bigger plan gets nothing (a switch back, or a downgrade). Only a
    paid invoice tops up (``top_up``): the annual task fills months that have nothing, so an
    upgrade is not paid out again for months granted before it. Callers hold the membership's
    row lock, so two grants for one month cannot both read "none yet".
    """
    key = _plan_month_key(subscription_id, month_start)
    granted = _plan_month_granted(user=user, subscription_id=subscription_id, month=month_start)
    if granted >= plan.monthly_credits or (granted and not top_up):
        return None
    if granted == 0:
        reason = f"{plan.name} plan credits for the month from {month_start:%-d %b %Y}"
    else:
        key = f"{key}:upgrade:{plan.slug}"
        reason = f"Upgrade to {plan.name}: the rest of the credits for {month_start:%B %Y}"
    return credits_grant(
        user=user, amount=plan.monthly_credits - granted, key=key, reason=reason, stripe_id=stripe_id
    )


def credits_grant_annual_months_due(*, today: date | None = None) -> int:
    """Beat task body: annual plans get each month's credits as that month starts (idempotent).

    Months missed while the task did not run are caught up; the key makes reruns no-ops.
    Returns how many grants were new.
    """
    today = today or timezone.now().date()
    started, count = timezone.now(), 0
    yearly = Membership.objects.filter(
        interval="year",
        status__in=PAID_STATUSES,
        current_period_start__isnull=False,
    ).values_list("pk", flat=True)
    for membership_id in list(yearly):
        with transaction.atomic():
            # Locked like the webhook services lock it, so an ending cannot slip in between.
            membership = Membership.objects.select_for_update().select_related("user").get(pk=membership_id)
            plan = PLANS.get(membership.plan)
            if not membership.is_active or membership.interval != "year" or plan is None or not plan.is_paid:
                continue
            if EndedSubscription.objects.filter(
                stripe_subscription_id=membership.stripe_subscription_id
            ).exists():
                continue
            first = membership.current_period_start.date()
            end = (
                membership.current_period_end.date()
                if membership.current_period_end
                else anniversary(first, 12)
            )
            for months in range(12):
                month_start = anniversary(first, months)
                if month_start > today or month_start >= end:
                    break
                row = _grant_plan_month(
                    user=membership.user,
                    plan=plan,
                    subscription_id=membership.stripe_subscription_id,
                    month_start=month_start,
                    top_up=False,
                )
                count += bool(row and row.created_at >= started)
    return count


# --- Refunds and disputes -------------------------------------------------------------------


def _invoice_payment_intent(invoice: dict[str, Any]) -> str:
    """The invoice's payment intent: a field in older API versions, in ``payments`` when included."""
    if found := _id(invoice.get("payment_intent")):
        return found
    for paid in (invoice.get("payments") or {}).get("data") or []:
        if found := _id((paid.get("payment") or {}).get("payment_intent")):
            return found
    return ""


def _payment_record(*, source_id: str, user: User, **fields: Any) -> StripePayment:
    """What a paid session or invoice was (once; a replay keeps the first record)."""
    payment, created = StripePayment.objects.get_or_create(
        source_id=source_id, defaults={"user": user, **fields}
    )
    if not created and fields.get("payment_intent") and not payment.payment_intent:
        payment.payment_intent = fields["payment_intent"]
        payment.save(update_fields=["payment_intent"])
    return payment


def _payment_credits(payment: StripePayment) -> int:
    """The credits this payment granted (top-up pack; a plan invoice's months, upgrades included)."""
    if payment.kind == StripePayment.Kind.TOPUP:
        rows = CreditTransaction.objects.filter(idempotency_key=f"stripe:checkout:{payment.source_id}")
    else:
        paid_for = Q(stripe_id=payment.source_id, kind=TransactionKind.GRANT)
        if payment.billing_reason != "subscription_update" and payment.period_start and payment.period_end:
            # A yearly payment also paid for the months the annual task granted since.
            months, n = [], 1
            while (month := anniversary(payment.period_start, n)) < payment.period_end:
                months.append(_plan_month_key(payment.subscription_id, month))
                n += 1
            paid_for |= Q(idempotency_key__in=months)
        rows = CreditTransaction.objects.filter(paid_for)
    return rows.aggregate(total=Sum("amount"))["total"] or 0


def _payment_for(*, payment_intent: str, invoice_id: str) -> StripePayment | None:
    if payment_intent and (found := StripePayment.objects.filter(payment_intent=payment_intent).first()):
        return found
    if invoice_id:
        return StripePayment.objects.filter(source_id=invoice_id).first()
    return None


def _invoice_for_payment_intent(payment_intent: str) -> str:
    """Newer Stripe API versions name a charge's invoice only through its invoice payments."""
    if not payment_intent or not settings.STRIPE_ENABLED:
        return ""
    found = stripe.InvoicePayment.list(
        api_key=settings.STRIPE_SECRET_KEY,
        payment={"type": "payment_intent", "payment_intent": payment_intent},
        limit=1,
    )
    return _id(found.data[0].invoice) if found.data else ""


def _clawback_apply(clawback: Clawback, payment: StripePayment) -> None:
    """Owe back the payment's share of credits, take what the balance allows, record the rest.

    A refund's key is the charge's refunded total, so each larger total owes only what the
    smaller ones did not (a stale, smaller total owes nothing). All clawbacks of a payment
    together never owe more than it granted. The caller holds the payment's row lock.
    """
    granted = _payment_credits(payment)
    prior = list(Clawback.objects.filter(payment=payment, applied_at__isnull=False).exclude(pk=clawback.pk))
    of_cents = clawback.of_cents or payment.amount_cents
    share = granted * min(clawback.cents, of_cents) // of_cents if of_cents else granted
    if clawback.cause == ClawbackCause.REFUND:
        share -= sum(
            p.owed for p in prior if p.cause == ClawbackCause.REFUND and p.charge_id == clawback.charge_id
        )
    owed = max(0, min(share, granted - sum(p.owed for p in prior)))
    row = None
    if owed and payment.user is not None:
        what = "refunded" if clawback.cause == ClawbackCause.REFUND else "disputed"
        row = credits_take_back(
            user=payment.user,
            amount=owed,
            key=clawback.key,
            reason=f"Payment {what}: {owed} credits it granted taken back",
            stripe_id=clawback.stripe_id,
        )
    clawback.payment, clawback.user, clawback.transaction = payment, payment.user, row
    clawback.owed, clawback.taken = owed, -row.amount if row else 0
    clawback.uncollected = owed - clawback.taken
    clawback.applied_at = timezone.now()
    clawback.save()
    log = logger.warning if clawback.uncollected else logger.info
    log(
        "payment clawback",
        extra={
            "user_id": payment.user_id,
            "key": clawback.key,
            "owed": owed,
            "taken": clawback.taken,
            "uncollected": clawback.uncollected,
        },
    )


def _clawbacks_pending_apply(payment: StripePayment) -> None:
    """Refunds or disputes that arrived before this payment's grant, applied now (oldest first)."""
    matches = Q(invoice_id=payment.source_id)
    if payment.payment_intent:
        matches |= Q(payment_intent=payment.payment_intent)
    for clawback in Clawback.objects.filter(matches, payment__isnull=True).order_by("id"):
        _clawback_apply(clawback, payment)


def _clawback(
    *,
    key: str,
    cause: str,
    charge_id: str,
    payment_intent: str,
    invoice_id: str,
    stripe_id: str,
    cents: int,
    of_cents: int = 0,
) -> Clawback:
    """Record a refund or dispute once (by key) and apply it to its payment when known."""
    existing = Clawback.objects.filter(key=key).first()
    if existing is not None:
        return existing  # delivered again
    payment = _payment_for(payment_intent=payment_intent, invoice_id=invoice_id)
    if payment is None and not invoice_id:
        invoice_id = _invoice_for_payment_intent(payment_intent)  # before any row lock is taken
        payment = _payment_for(payment_intent="", invoice_id=invoice_id)
    with transaction.atomic():
        if payment is not None:
            payment = StripePayment.objects.select_for_update().get(pk=payment.pk)
            if payment_intent and not payment.payment_intent:
                payment.payment_intent = payment_intent
                payment.save(update_fields=["payment_intent"])
        try:
            with transaction.atomic():
                clawback = Clawback.objects.create(
                    key=key,
                    cause=cause,
                    charge_id=charge_id,
                    payment_intent=payment_intent,
                    invoice_id=invoice_id,
                    stripe_id=stripe_id,
                    cents=cents,
                    of_cents=of_cents,
                )
        except IntegrityError:
            return Clawback.objects.get(key=key)  # the same event, delivered twice at once
        if payment is None:
            logger.warning("refund or dispute before its payment's grant: pending", extra={"key": key})
        else:
            _clawback_apply(clawback, payment)
    return clawback


def payment_refunded(*, charge: dict[str, Any]) -> Clawback | None:
    """``charge.refunded`` (full or partial): the refunded share of what the payment granted."""
    refunded = charge.get("amount_refunded") or 0
    if not refunded:
        return None
    return _clawback(
        key=f"clawback:refund:{charge['id']}:{refunded}",
        cause=ClawbackCause.REFUND,
        charge_id=charge["id"],
        payment_intent=_id(charge.get("payment_intent")),
        invoice_id=_id(charge.get("invoice")),
        stripe_id=charge["id"],
        cents=refunded,
        of_cents=charge.get("amount") or 0,
    )


def payment_disputed(*, dispute: dict[str, Any]) -> Clawback:
    """``charge.dispute.created`` or ``funds_withdrawn`` (whichever comes first): the disputed share."""
    return _clawback(
        key=f"clawback:dispute:{dispute['id']}",
        cause=ClawbackCause.DISPUTE,
        charge_id=_id(dispute.get("charge")),
        payment_intent=_id(dispute.get("payment_intent")),
        invoice_id="",
        stripe_id=dispute["id"],
        cents=dispute.get("amount") or 0,
    )


# --- Personal data (GDPR) ------------------------------------------------------------------


def stripe_personal_data_erase(*, user: User) -> dict[str, int]:
    """Delete dj-stripe's local copies that carry the person's payment data (account deletion).

    The customer is already deleted at Stripe (``accounts.services._stripe_forget``); Stripe
    keeps the payment records the law requires. Here go every dj-stripe row of theirs: the
    customer (with it, by cascade, subscriptions, invoices and payment intents), charges and
    their refunds and disputes, payment methods (card brand, last 4, billing address),
    Checkout sessions, setup intents, sources, and every recorded webhook event and raw
    webhook body that names the customer or one of those objects (events for
    ``checkout.session.*``, ``invoice.*``, ``charge.*``, ``payment_intent.*``,
    ``customer.*`` … carry email, name and address in their payloads). Deleted rather than
    anonymised: our ledger holds the amounts and what they granted, and nothing reads these
    copies once the person is gone. Runs inside the caller's transaction; returns counts.
    """
    customers = Customer.objects.filter(subscriber=user)
    owned = {
        "charges": Charge.objects.filter(customer__in=customers),
        "payment_methods": PaymentMethod.objects.filter(customer__in=customers),
        "checkout_sessions": Session.objects.filter(customer__in=customers),
        "setup_intents": SetupIntent.objects.filter(customer__in=customers),
        "sources": Source.objects.filter(customer__in=customers),
    }
    ids = set(customers.values_list("id", flat=True))
    if not ids:
        return {}
    for related in (Subscription, Invoice, PaymentIntent):
        ids |= set(related.objects.filter(customer__in=customers).values_list("id", flat=True))
    for queryset in owned.values():
        ids |= set(queryset.values_list("id", flat=True))
    # Payloads are matched as text: an object's id appears wherever the payload refers to it
    # (a dispute names its charge, a refund its payment intent), whatever the event type.
    naming = Q()
    for stripe_id in ids:
        naming |= Q(text__contains=stripe_id)
    events = Event.objects.annotate(text=Cast("data", TextField())).filter(naming)
    event_ids = list(events.values_list("pk", flat=True))
    body_naming = Q(event__in=event_ids)
    for stripe_id in ids:
        body_naming |= Q(body__contains=stripe_id)
    counts = {"webhook_bodies": WebhookEventTrigger.objects.filter(body_naming).delete()[0]}
    counts["events"] = Event.objects.filter(pk__in=event_ids).delete()[0]
    for name, queryset in owned.items():
        counts[name] = queryset.delete()[0]
    counts["customer_rows"] = customers.delete()[0]  # with the rows that cascade from it
    logger.info("stripe personal data erased", extra={"user_id": user.pk, **counts})
    return counts
