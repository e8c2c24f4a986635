"""Refunds and disputes of a top-up or plan payment take back what it granted (signed webhooks).

As far as the balance allows: what it cannot cover is recorded as uncollected on the
``Clawback`` row, which staff filter in the admin. Duplicates, stale partial-refund totals
and a refund that arrives before its payment's grant are harmless.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client

from credits.billing import credits_grant_annual_months_due, stripe_customer_for_user
from credits.models import Clawback, CreditTransaction, StripePayment
from credits.selectors import credit_balance
from credits.services import credits_charge
from tests.credits import stripe_server
from tests.credits.stripe_server import StripeServer, deliver, make_event
from tests.credits.test_stripe_subscriptions import DAY, FEB1, JAN1, _invoice, _put_catalogue
from tests.factories import UserFactory

stripe_api = stripe_server.stripe_api
webhook_url = stripe_server.webhook_url


def _topup(client: Client, server: StripeServer, url: str, user: Any, tag: str) -> str:
    """30 credits bought for $12.99 by card; returns the payment intent."""
    customer = stripe_customer_for_user(user=user).id
    session = server.put(
        {
            "id": f"cs_test_{tag}",
            "object": "checkout.session",
            "created": JAN1,
            "livemode": False,
            "mode": "payment",
            "status": "complete",
            "payment_status": "paid",
            "customer": customer,
            "client_reference_id": str(user.pk),
            "metadata": {"user_id": str(user.pk), "pack": "30"},
            "amount_total": 1299,
            "currency": "usd",
            "payment_intent": f"pi_{tag}",
            "subscription": None,
            "setup_intent": None,
            "url": None,
        }
    )
    response = deliver(client, url, make_event("checkout.session.completed", session, created=JAN1))
    assert response.status_code == 200, response.content
    return f"pi_{tag}"


def _refunded(tag: str, refunded: int, *, at: int, amount: int = 1299) -> dict[str, Any]:
    charge = {
        "id": f"ch_{tag}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "refunded": refunded == amount,
        "payment_intent": f"pi_{tag}",
        "currency": "usd",
        "status": "succeeded",
    }
    return make_event("charge.refunded", charge, created=at, event_id=f"evt_refund_{tag}_{refunded}")


def _disputed(tag: str, event_type: str, *, amount: int, at: int) -> dict[str, Any]:
    dispute = {
        "id": f"dp_{tag}",
        "object": "dispute",
        "amount": amount,
        "charge": f"ch_{tag}",
        "payment_intent": f"pi_{tag}",
        "currency": "usd",
        "reason": "fraudulent",
        "status": "needs_response",
    }
    return make_event(event_type, dispute, created=at)


def _ok(client: Client, url: str, event: dict[str, Any]) -> None:
    response = deliver(client, url, event)
    assert response.status_code == 200, response.content


def _clawbacks(user: Any) -> list[tuple[int, int]]:
    return [(c.amount, c.balance_after) for c in CreditTransaction.objects.filter(user=user, kind="clawback")]


@pytest.mark.django_db
def test_a_refunded_topup_takes_its_credits_back_once(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    _topup(client, stripe_api, webhook_url, user, "full")
    assert credit_balance(user=user) == 3 + 30

    refund = _refunded("full", 1299, at=JAN1 + DAY)
    _ok(client, webhook_url, refund)
    _ok(client, webhook_url, refund)  # Stripe delivers it again
    _ok(client, webhook_url, {**refund, "id": "evt_refund_full_again"})  # or as a second event

    assert credit_balance(user=user) == 3
    assert _clawbacks(user) == [(-30, 3)]
    clawback = Clawback.objects.get()
    assert (clawback.cause, clawback.owed, clawback.taken, clawback.uncollected) == ("refund", 30, 30, 0)
    assert clawback.payment.source_id == "cs_test_full" and clawback.transaction.kind == "clawback"


@pytest.mark.django_db
def test_partial_refunds_take_their_share_in_any_order(
    client: Client, stripe_api: StripeServer, webhook_url: str
) -> None:
    half, rest = _refunded("p{}", 650, at=JAN1 + DAY), _refunded("p{}", 1299, at=JAN1 + 2 * DAY)
    results = {}
    for name, order in (("in_order", (half, rest)), ("reversed", (rest, half))):
        user = UserFactory()
        tag = f"p{name}"
        _topup(client, stripe_api, webhook_url, user, tag)
        for event in order:
            event = {**event, "id": event["id"].replace("p{}", tag)}
            event["data"] = {
                "object": {**event["data"]["object"], "id": f"ch_{tag}", "payment_intent": f"pi_{tag}"}
            }
            _ok(client, webhook_url, event)
            if event is order[0] and name == "in_order":
                assert credit_balance(user=user) == 3 + 30 - 15  # 650 of 1299 cents: half, rounded down
        results[name] = (
            credit_balance(user=user),
            sorted(c.owed for c in Clawback.objects.filter(user=user)),
        )

    assert results == {"in_order": (3, [15, 15]), "reversed": (3, [0, 30])}


@pytest.mark.django_db
def test_what_the_balance_cannot_cover_is_shown_to_staff(
    client: Client, admin_client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    # given 30 credits bought and 25 of them spent
    _topup(client, stripe_api, webhook_url, user, "spent")
    credits_charge(user=user, amount=25, job_id=424242, reason="Restore")
    assert credit_balance(user=user) == 8

    # when the payment is refunded in full
    _ok(client, webhook_url, _refunded("spent", 1299, at=JAN1 + DAY))

    # then the balance is emptied, never below zero, and the other 22 are recorded as uncollected
    assert credit_balance(user=user) == 0
    assert _clawbacks(user) == [(-8, 0)]
    clawback = Clawback.objects.get(user=user)
    assert (clawback.owed, clawback.taken, clawback.uncollected) == (30, 8, 22)
    page = admin_client.get("/admin/credits/clawback/?state=uncollected").content.decode()
    assert user.email in page and "ch_spent" in page
    settled = admin_client.get("/admin/credits/clawback/?state=settled").content.decode()
    assert "ch_spent" not in settled


@pytest.mark.django_db
def test_a_disputed_plan_payment_takes_the_month_back_once(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    # given a monthly plan paid by an invoice whose payload (newer API) does not name its payment
    _put_catalogue(stripe_api)
    customer = stripe_customer_for_user(user=user).id
    invoice = stripe_api.put(
        _invoice("in_disp", "sub_disp", customer, (JAN1, FEB1), reason="subscription_create")
    )
    _ok(client, webhook_url, make_event("invoice.paid", invoice, created=JAN1 + 2))
    stripe_api.put(
        {
            "id": "inpay_disp",
            "object": "invoice_payment",
            "invoice": "in_disp",
            "amount_paid": 999,
            "payment": {"type": "payment_intent", "payment_intent": "pi_disp"},
            "status": "paid",
        }
    )
    assert credit_balance(user=user) == 3 + 25

    # when the charge is disputed, and the funds are withdrawn
    _ok(client, webhook_url, _disputed("disp", "charge.dispute.created", amount=999, at=JAN1 + 9 * DAY))
    _ok(
        client,
        webhook_url,
        _disputed("disp", "charge.dispute.funds_withdrawn", amount=999, at=JAN1 + 10 * DAY),
    )

    # then the month's 25 credits are taken back once, found through Stripe's invoice payments
    assert credit_balance(user=user) == 3
    assert _clawbacks(user) == [(-25, 3)]
    assert StripePayment.objects.get(source_id="in_disp").payment_intent == "pi_disp"
    assert len(stripe_api.calls("GET", "/v1/invoice_payments")) == 1


@pytest.mark.django_db
def test_a_refund_of_a_yearly_payment_takes_back_the_months_granted_since(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    _put_catalogue(stripe_api)
    customer = stripe_customer_for_user(user=user).id
    year = (JAN1, JAN1 + 365 * DAY)
    invoice = _invoice(
        "in_yr", "sub_yr", customer, year, reason="subscription_create", price="price_remember_year"
    )
    invoice["payment_intent"] = "pi_yr"  # older API versions name it on the invoice
    stripe_api.put(invoice)
    _ok(client, webhook_url, make_event("invoice.paid", invoice, created=JAN1 + 2))
    assert credits_grant_annual_months_due(today=date(2026, 3, 2)) == 2
    assert credit_balance(user=user) == 3 + 75

    _ok(client, webhook_url, _refunded("yr", 9588, amount=9588, at=JAN1 + 62 * DAY))

    assert credit_balance(user=user) == 3
    assert Clawback.objects.get(user=user).owed == 75


@pytest.mark.django_db
def test_a_refund_delivered_before_its_payment_is_applied_when_the_payment_arrives(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    _ok(client, webhook_url, _refunded("early", 1299, at=JAN1 + DAY))
    pending = Clawback.objects.get(key="clawback:refund:ch_early:1299")
    assert pending.payment is None and pending.owed == 0  # pending: nothing known to take yet

    _topup(client, stripe_api, webhook_url, user, "early")

    assert credit_balance(user=user) == 3
    pending.refresh_from_db()
    assert (pending.payment.source_id, pending.owed, pending.taken) == ("cs_test_early", 30, 30)
