"""Subscriptions through signed webhooks: grants per paid period, ordering, forfeiture, annual months.

Stripe's objects (subscription, invoices, price, product) sit on the local Stripe server in
their final state, as they would at Stripe when events are retried; each event carries the
snapshot from when it happened.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db.models import Sum
from django.test import Client

from credits.billing import credits_grant_annual_months_due, stripe_customer_for_user
from credits.models import CreditTransaction, EndedSubscription, Membership
from credits.selectors import credit_balance, next_grant_date, user_tier
from credits.services import credits_grant_free_months_due
from credits.tasks import credits_grant_annual_months_task
from tests.credits import stripe_server
from tests.credits.stripe_server import StripeServer, deliver, make_event
from tests.factories import UserFactory

stripe_api = stripe_server.stripe_api
webhook_url = stripe_server.webhook_url

DAY = 86400
JAN1, FEB1, MAR1 = 1767225600, 1767225600 + 31 * DAY, 1767225600 + 59 * DAY  # 2026


def _put_catalogue(server: StripeServer) -> None:
    for slug in ("remember", "cherish"):
        server.put(
            {
                "id": f"prod_{slug}",
                "object": "product",
                "created": JAN1,
                "livemode": False,
                "name": slug.title(),
                "active": True,
                "metadata": {},
                "type": "service",
            }
        )
        for interval in ("month", "year"):
            server.put(
                {
                    "id": f"price_{slug}_{interval}",
                    "object": "price",
                    "created": JAN1,
                    "livemode": False,
                    "active": True,
                    "currency": "usd",
                    "unit_amount": 999 if interval == "month" else 9588,
                    "product": f"prod_{slug}",
                    "type": "recurring",
                    "billing_scheme": "per_unit",
                    "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
                    "metadata": {},
                    "nickname": None,
                }
            )


def _price(price_id: str) -> dict[str, Any]:
    slug, interval = price_id.split("_")[1:]
    return {
        "id": price_id,
        "object": "price",
        "created": JAN1,
        "livemode": False,
        "active": True,
        "currency": "usd",
        "unit_amount": 999 if interval == "month" else 9588,
        "product": f"prod_{slug}",
        "type": "recurring",
        "billing_scheme": "per_unit",
        "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
        "metadata": {},
        "nickname": None,
    }


def _subscription(
    sub_id: str,
    customer: str,
    period: tuple[int, int],
    *,
    price: str = "price_remember_month",
    status: str = "active",
    cancel: bool = False,
    ended_at: int | None = None,
) -> dict[str, Any]:
    start, end = period
    return {
        "id": sub_id,
        "object": "subscription",
        "created": JAN1,
        "livemode": False,
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel,
        "cancel_at": end if cancel else None,
        "canceled_at": ended_at,
        "ended_at": ended_at,
        "currency": "usd",
        "metadata": {},
        "default_payment_method": None,
        "latest_invoice": None,
        "start_date": JAN1,
        "items": {
            "object": "list",
            "has_more": False,
            "data": [
                {
                    "id": f"si_{sub_id}",
                    "object": "subscription_item",
                    "created": JAN1,
                    "subscription": sub_id,
                    "quantity": 1,
                    "current_period_start": start,
                    "current_period_end": end,
                    "metadata": {},
                    "price": _price(price),
                }
            ],
        },
    }


def _invoice(
    inv_id: str,
    sub_id: str,
    customer: str,
    period: tuple[int, int],
    *,
    reason: str,
    price: str = "price_remember_month",
    unused: str | None = None,
) -> dict[str, Any]:
    """A paid invoice; ``unused`` adds the credit line for the old price that a change makes."""
    start, end = period
    lines = []
    if unused:
        lines.append(
            {
                "id": f"il_{inv_id}_unused",
                "object": "line_item",
                "amount": -500,
                "currency": "usd",
                "period": {"start": start, "end": end},
                "pricing": {
                    "type": "price_details",
                    "price_details": {"price": unused, "product": f"prod_{unused.split('_')[1]}"},
                },
            }
        )
    lines.append(
        {
            "id": f"il_{inv_id}",
            "object": "line_item",
            "amount": 999,
            "currency": "usd",
            "period": {"start": start, "end": end},
            "pricing": {
                "type": "price_details",
                "price_details": {"price": price, "product": f"prod_{price.split('_')[1]}"},
            },
        }
    )
    return {
        "id": inv_id,
        "object": "invoice",
        "created": start,
        "livemode": False,
        "customer": customer,
        "status": "paid",
        "paid": True,
        "billing_reason": reason,
        "amount_paid": 999,
        "amount_due": 999,
        "currency": "usd",
        "period_start": start,
        "period_end": start,
        "default_payment_method": None,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": sub_id, "metadata": {}},
        },
        "lines": {"object": "list", "has_more": False, "data": lines},
    }


def _scenario(server: StripeServer, customer: str, tag: str) -> list[dict[str, Any]]:
    """created, invoice.paid ×2, updated (cancel at period end), deleted — in Stripe's order."""
    sub = f"sub_{tag}"
    p1, p2 = (JAN1, FEB1), (FEB1, MAR1)
    inv1 = server.put(_invoice(f"in_{tag}_1", sub, customer, p1, reason="subscription_create"))
    inv2 = server.put(_invoice(f"in_{tag}_2", sub, customer, p2, reason="subscription_cycle"))
    final = server.put(_subscription(sub, customer, p2, status="canceled", cancel=True, ended_at=MAR1))
    return [
        make_event("customer.subscription.created", _subscription(sub, customer, p1), created=JAN1 + 1),
        make_event("invoice.paid", inv1, created=JAN1 + 2),
        make_event("invoice.paid", inv2, created=FEB1 + 60),
        make_event(
            "customer.subscription.updated",
            _subscription(sub, customer, p2, cancel=True),
            created=FEB1 + 3600,
        ),
        make_event("customer.subscription.deleted", final, created=MAR1 + 5),
    ]


def _state(user: Any) -> dict[str, Any]:
    m = Membership.objects.get(user=user)
    return {
        "balance": credit_balance(user=user),
        "membership": (
            m.plan,
            m.interval,
            m.status,
            m.current_period_start,
            m.current_period_end,
            m.ended_at,
            m.stripe_event_at,
        ),
    }


def _ledger(user: Any, sub: str) -> list[tuple[str, int, str]]:
    rows = CreditTransaction.objects.filter(user=user).order_by("id")
    return [
        (r.kind, r.amount, r.idempotency_key.replace(sub, "SUB").replace(f":{user.pk}:", ":U:")) for r in rows
    ]


def _run(
    client: Client, server: StripeServer, url: str, order: list[int], tag: str
) -> tuple[Any, list[dict[str, Any]]]:
    user = UserFactory()
    customer = stripe_customer_for_user(user=user).id
    events = _scenario(server, customer, tag)
    for i in order:
        response = deliver(client, url, events[i])
        assert response.status_code == 200, (order, response.content)
    return user, events


@pytest.mark.django_db
def test_subscription_events_in_any_order_end_in_the_same_state(
    client: Client, stripe_api: StripeServer, webhook_url: str
) -> None:
    _put_catalogue(stripe_api)
    user, _ = _run(client, stripe_api, webhook_url, [0, 1, 2, 3, 4], "inorder")
    expected_state, expected_ledger = _state(user), _ledger(user, "sub_inorder")
    # In order: 3 free + 25 + 25, then the whole pool forfeited when the plan ended.
    assert expected_ledger == [
        ("grant", 3, expected_ledger[0][2]),
        ("grant", 25, "plan:SUB:2026-01"),
        ("grant", 25, "plan:SUB:2026-02"),
        ("forfeit", -53, "forfeit:SUB"),
    ]
    assert expected_state == {
        "balance": 0,
        "membership": (
            "remember",
            "month",
            "ended",
            datetime.fromtimestamp(FEB1, UTC),
            datetime.fromtimestamp(MAR1, UTC),
            datetime.fromtimestamp(MAR1, UTC),
            datetime.fromtimestamp(MAR1 + 5, UTC),
        ),
    }

    rng = random.Random(20261125)
    orders = [[4, 3, 2, 1, 0], [4, 0, 1, 2, 3], [0, 3, 1, 2, 4], [3, 2, 1, 0, 4]]
    orders += [rng.sample(range(5), 5) for _ in range(6)]
    for n, order in enumerate(orders):
        tag = f"shuffled{n}"
        user, _ = _run(client, stripe_api, webhook_url, order, tag)
        ledger = _ledger(user, f"sub_{tag}")
        assert _state(user) == expected_state, order
        assert CreditTransaction.objects.filter(user=user).aggregate(s=Sum("amount"))["s"] == 0
        assert user_tier(user=user) == "free"
        assert ledger[-1][0] == "forfeit", order  # nothing is granted after the end
        if order.index(4) > max(order.index(1), order.index(2)):
            # The end came after both payments: the same ledger rows as in order.
            assert sorted(ledger) == sorted(expected_ledger), order
        else:
            # An invoice paid after the end brings nothing back: fewer grants, a smaller forfeit.
            grants = [r for r in ledger if r[0] == "grant"]
            assert set(grants) < set(expected_ledger), order
            assert ledger[-1][1] == -sum(r[1] for r in grants), order


@pytest.mark.django_db
def test_cancelling_marks_the_membership_and_the_end_forfeits_the_pool(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    _put_catalogue(stripe_api)
    customer = stripe_customer_for_user(user=user).id
    events = _scenario(stripe_api, customer, "cancel")
    for event in events[:4]:
        deliver(client, webhook_url, event)
    membership = Membership.objects.get(user=user)
    assert (membership.status, user_tier(user=user), credit_balance(user=user)) == (
        "cancelling",
        "remember",
        53,
    )
    assert next_grant_date(user=user) is None  # the plan ends before it would renew

    deliver(client, webhook_url, events[4])
    deliver(client, webhook_url, events[4])  # replayed end: still one forfeit

    forfeits = CreditTransaction.objects.filter(user=user, kind="forfeit")
    assert [f.amount for f in forfeits] == [-53]
    assert credit_balance(user=user) == 0
    assert user_tier(user=user) == "free"
    assert EndedSubscription.objects.filter(stripe_subscription_id="sub_cancel").exists()


@pytest.mark.django_db
def test_invoice_paid_after_the_end_grants_nothing(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    _put_catalogue(stripe_api)
    customer = stripe_customer_for_user(user=user).id
    created, paid1, paid2, _, deleted = _scenario(stripe_api, customer, "late")
    for event in (created, paid1, deleted):
        deliver(client, webhook_url, event)
    assert credit_balance(user=user) == 0

    response = deliver(client, webhook_url, paid2)

    assert response.status_code == 200
    assert credit_balance(user=user) == 0
    assert Membership.objects.get(user=user).status == "ended"
    assert not CreditTransaction.objects.filter(idempotency_key__endswith=":2026-02").exists()


@pytest.mark.django_db
def test_annual_plan_grants_every_month_of_the_year_once(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    _put_catalogue(stripe_api)
    customer = stripe_customer_for_user(user=user).id
    start, end = JAN1 + 30 * DAY, JAN1 + 30 * DAY + 365 * DAY  # 31 Jan 2026 → 31 Jan 2027
    sub = _subscription("sub_year", customer, (start, end), price="price_remember_year")
    invoice = stripe_api.put(
        _invoice(
            "in_year_1",
            "sub_year",
            customer,
            (start, end),
            reason="subscription_create",
            price="price_remember_year",
        )
    )
    stripe_api.put(sub)
    deliver(client, webhook_url, make_event("customer.subscription.created", sub, created=start + 1))
    deliver(client, webhook_url, make_event("invoice.paid", invoice, created=start + 2))
    assert credit_balance(user=user) == 3 + 25  # the first month, on payment

    # Mid-March: February's month (from the 28th, February's last day) is due, not March's (31st).
    assert credits_grant_annual_months_due(today=date(2026, 3, 15)) == 1
    assert credits_grant_annual_months_due(today=date(2026, 3, 15)) == 0  # run twice: one grant
    keys = sorted(
        CreditTransaction.objects.filter(user=user, idempotency_key__contains="sub_year").values_list(
            "idempotency_key", flat=True
        )
    )
    assert [k.rsplit(":", 1)[1] for k in keys] == ["2026-01", "2026-02"]
    assert next_grant_date(user=user, today=date(2026, 3, 15)) == date(2026, 3, 31)
    assert next_grant_date(user=user, today=date(2027, 1, 15)) == date(2027, 1, 31)  # the renewal

    # A year later the task (as beat runs it) has caught up all twelve months, and no more.
    assert credits_grant_annual_months_due(today=date(2027, 6, 1)) == 10
    assert credits_grant_annual_months_task() == 0
    assert credit_balance(user=user) == 3 + 12 * 25
    months = CreditTransaction.objects.filter(user=user, idempotency_key__contains="sub_year")
    assert months.count() == 12
    assert {k.rsplit(":", 1)[1] for k in months.values_list("idempotency_key", flat=True)} >= {
        "2026-04",
        "2026-12",
    }


@pytest.mark.django_db
def test_annual_plan_grants_stop_when_it_ends(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    _put_catalogue(stripe_api)
    customer = stripe_customer_for_user(user=user).id
    start, end = JAN1, JAN1 + 365 * DAY
    invoice = stripe_api.put(
        _invoice(
            "in_y2",
            "sub_y2",
            customer,
            (start, end),
            reason="subscription_create",
            price="price_remember_year",
        )
    )
    deliver(client, webhook_url, make_event("invoice.paid", invoice, created=start + 2))
    ended = stripe_api.put(
        _subscription(
            "sub_y2",
            customer,
            (start, end),
            price="price_remember_year",
            status="canceled",
            ended_at=start + 40 * DAY,
        )
    )
    deliver(client, webhook_url, make_event("customer.subscription.deleted", ended, created=start + 40 * DAY))
    assert credit_balance(user=user) == 0

    assert credits_grant_annual_months_due(today=date(2026, 6, 1)) == 0
    assert credit_balance(user=user) == 0


@pytest.mark.django_db
def test_an_unpaid_subscription_pauses_the_plan_keeps_the_credits_and_resumes_when_paid(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    _put_catalogue(stripe_api)
    customer = stripe_customer_for_user(user=user).id
    p1, p2 = (JAN1, FEB1), (FEB1, MAR1)
    stripe_api.put(_subscription("sub_unpaid", customer, p1))
    invoice = stripe_api.put(
        _invoice("in_unpaid_1", "sub_unpaid", customer, p1, reason="subscription_create")
    )
    deliver(
        client,
        webhook_url,
        make_event(
            "customer.subscription.created", _subscription("sub_unpaid", customer, p1), created=JAN1 + 1
        ),
    )
    deliver(client, webhook_url, make_event("invoice.paid", invoice, created=JAN1 + 2))
    assert (user_tier(user=user), credit_balance(user=user)) == ("remember", 28)

    # when the renewal is not paid and Stripe marks the subscription unpaid
    unpaid = stripe_api.put(_subscription("sub_unpaid", customer, p2, status="unpaid"))
    deliver(client, webhook_url, make_event("customer.subscription.updated", unpaid, created=FEB1 + 7 * DAY))

    # then the plan's benefits pause, the credits stay, no Free grants stand in for it
    assert Membership.objects.get(user=user).status == "suspended"
    assert (user_tier(user=user), credit_balance(user=user)) == ("free", 28)
    assert not CreditTransaction.objects.filter(user=user, kind="forfeit").exists()
    assert credits_grant_free_months_due(today=date(2026, 12, 31)) == 0
    assert next_grant_date(user=user) is None
    page = client.get("/credits/")  # not signed in: the sign-in redirect, nothing leaks
    assert page.status_code == 302
    client.force_login(user)
    assert "payment is outstanding" in client.get("/credits/").content.decode()

    # when it is paid again; an older "unpaid" snapshot delivered late does not undo that
    active = stripe_api.put(_subscription("sub_unpaid", customer, p2))
    deliver(client, webhook_url, make_event("customer.subscription.updated", active, created=FEB1 + 8 * DAY))
    late = make_event(
        "customer.subscription.updated", unpaid, created=FEB1 + 7 * DAY, event_id="evt_late_unpaid"
    )
    deliver(client, webhook_url, late)
    assert (Membership.objects.get(user=user).status, user_tier(user=user)) == ("active", "remember")
    assert credit_balance(user=user) == 28


# --- Billing Portal changes: one grant per (subscription, calendar month) ---------------------


def _change(
    client: Client,
    server: StripeServer,
    url: str,
    customer: str,
    *,
    sub: str,
    at: int,
    period: tuple[int, int],
    price: str,
    old_price: str,
    invoice: str,
) -> None:
    """What Stripe sends for a change in the portal: the new subscription, then its paid invoice.

    The invoice's lines cover the time from the change to the period's end (a new period when
    the interval changes; the rest of the current one, prorated, for a plan change).
    """
    snapshot = server.put(_subscription(sub, customer, period, price=price))
    lines = (max(at, period[0]), period[1])
    inv = server.put(
        _invoice(invoice, sub, customer, lines, reason="subscription_update", price=price, unused=old_price)
    )
    assert (
        deliver(client, url, make_event("customer.subscription.updated", snapshot, created=at)).status_code
        == 200
    )
    assert deliver(client, url, make_event("invoice.paid", inv, created=at + 1)).status_code == 200


def _plan_keys(user: Any) -> list[tuple[str, int]]:
    rows = CreditTransaction.objects.filter(user=user, idempotency_key__startswith="plan:").order_by("id")
    return [(r.idempotency_key, r.amount) for r in rows]


@pytest.mark.django_db
def test_switching_monthly_yearly_and_back_within_a_month_grants_the_month_once(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    # given a monthly Remember plan paid on 1 January
    _put_catalogue(stripe_api)
    customer = stripe_customer_for_user(user=user).id
    created = stripe_api.put(_subscription("sub_switch", customer, (JAN1, FEB1)))
    deliver(client, webhook_url, make_event("customer.subscription.created", created, created=JAN1 + 1))
    first = stripe_api.put(
        _invoice("in_sw_1", "sub_switch", customer, (JAN1, FEB1), reason="subscription_create")
    )
    deliver(client, webhook_url, make_event("invoice.paid", first, created=JAN1 + 2))
    assert credit_balance(user=user) == 3 + 25

    # when the person switches to yearly on 10 January, and back to monthly on 20 January
    jan10, jan20 = JAN1 + 9 * DAY, JAN1 + 19 * DAY
    kwargs = {"sub": "sub_switch", "customer": customer}
    _change(
        client,
        stripe_api,
        webhook_url,
        at=jan10,
        period=(jan10, jan10 + 365 * DAY),
        price="price_remember_year",
        old_price="price_remember_month",
        invoice="in_sw_2",
        **kwargs,
    )
    assert Membership.objects.get(user=user).interval == "year"
    assert credits_grant_annual_months_due(today=date(2026, 1, 15)) == 0
    _change(
        client,
        stripe_api,
        webhook_url,
        at=jan20,
        period=(jan20, jan20 + 31 * DAY),
        price="price_remember_month",
        old_price="price_remember_year",
        invoice="in_sw_3",
        **kwargs,
    )
    # and yearly again on 25 January (the same invoice replayed by Stripe changes nothing either)
    jan25 = JAN1 + 24 * DAY
    _change(
        client,
        stripe_api,
        webhook_url,
        at=jan25,
        period=(jan25, jan25 + 365 * DAY),
        price="price_remember_year",
        old_price="price_remember_month",
        invoice="in_sw_4",
        **kwargs,
    )
    assert credits_grant_annual_months_due(today=date(2026, 1, 31)) == 0

    # then January was granted once
    assert credit_balance(user=user) == 3 + 25
    assert _plan_keys(user) == [("plan:sub_switch:2026-01", 25)]

    # and February comes once, from the yearly plan's anniversary, however often the task runs
    assert credits_grant_annual_months_due(today=date(2026, 2, 25)) == 1
    assert credits_grant_annual_months_due(today=date(2026, 2, 28)) == 0
    assert _plan_keys(user) == [("plan:sub_switch:2026-01", 25), ("plan:sub_switch:2026-02", 25)]
    assert credit_balance(user=user) == 3 + 50


@pytest.mark.django_db
def test_an_upgrade_within_a_month_adds_the_difference_once_and_a_downgrade_takes_nothing(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    _put_catalogue(stripe_api)
    customer = stripe_customer_for_user(user=user).id
    first = stripe_api.put(
        _invoice("in_up_1", "sub_up", customer, (JAN1, FEB1), reason="subscription_create")
    )
    deliver(client, webhook_url, make_event("invoice.paid", first, created=JAN1 + 2))
    kwargs = {"sub": "sub_up", "customer": customer, "period": (JAN1, FEB1)}

    # Remember → Cherish → Remember → Cherish, all in January
    _change(
        client,
        stripe_api,
        webhook_url,
        at=JAN1 + 5 * DAY,
        price="price_cherish_month",
        old_price="price_remember_month",
        invoice="in_up_2",
        **kwargs,
    )
    _change(
        client,
        stripe_api,
        webhook_url,
        at=JAN1 + 6 * DAY,
        price="price_remember_month",
        old_price="price_cherish_month",
        invoice="in_up_3",
        **kwargs,
    )
    _change(
        client,
        stripe_api,
        webhook_url,
        at=JAN1 + 7 * DAY,
        price="price_cherish_month",
        old_price="price_remember_month",
        invoice="in_up_4",
        **kwargs,
    )

    assert _plan_keys(user) == [("plan:sub_up:2026-01", 25), ("plan:sub_up:2026-01:upgrade:cherish", 35)]
    assert credit_balance(user=user) == 3 + 60
    assert Membership.objects.get(user=user).plan == "cherish"

    # February's renewal is the Cherish plan, in full
    renewal = stripe_api.put(
        _invoice(
            "in_up_5",
            "sub_up",
            customer,
            (FEB1, MAR1),
            reason="subscription_cycle",
            price="price_cherish_month",
        )
    )
    deliver(client, webhook_url, make_event("invoice.paid", renewal, created=FEB1 + 60))
    assert _plan_keys(user)[-1] == ("plan:sub_up:2026-02", 60)


@pytest.mark.django_db
def test_the_annual_task_does_not_pay_an_upgrade_again_for_months_granted_before_it(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    _put_catalogue(stripe_api)
    customer = stripe_customer_for_user(user=user).id
    year = (JAN1, JAN1 + 365 * DAY)
    stripe_api.put(_subscription("sub_yup", customer, year, price="price_remember_year"))
    first = stripe_api.put(
        _invoice(
            "in_yup_1", "sub_yup", customer, year, reason="subscription_create", price="price_remember_year"
        )
    )
    deliver(client, webhook_url, make_event("invoice.paid", first, created=JAN1 + 2))
    assert credits_grant_annual_months_due(today=date(2026, 3, 10)) == 2  # February and March

    # upgraded to Cherish yearly on 10 March: March gets the difference, January and February nothing
    _change(
        client,
        stripe_api,
        webhook_url,
        customer,
        sub="sub_yup",
        at=JAN1 + 68 * DAY,
        period=year,
        price="price_cherish_year",
        old_price="price_remember_year",
        invoice="in_yup_2",
    )
    assert credits_grant_annual_months_due(today=date(2026, 4, 2)) == 1  # April, in full

    assert _plan_keys(user) == [
        ("plan:sub_yup:2026-01", 25),
        ("plan:sub_yup:2026-02", 25),
        ("plan:sub_yup:2026-03", 25),
        ("plan:sub_yup:2026-03:upgrade:cherish", 35),
        ("plan:sub_yup:2026-04", 60),
    ]


@pytest.mark.django_db
def test_months_granted_under_the_old_keys_are_not_granted_again(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    # given January granted before grants were keyed by calendar month
    from credits.services import credits_grant

    credits_grant(user=user, amount=25, key=f"grant:{user.pk}:sub_old:2026-01-01", reason="Remember plan")
    _put_catalogue(stripe_api)
    customer = stripe_customer_for_user(user=user).id

    # when a switch on 20 January is paid
    _change(
        client,
        stripe_api,
        webhook_url,
        customer,
        sub="sub_old",
        at=JAN1 + 19 * DAY,
        period=(JAN1 + 19 * DAY, JAN1 + 384 * DAY),
        price="price_remember_year",
        old_price="price_remember_month",
        invoice="in_old_2",
    )

    # then January is not granted again
    assert credit_balance(user=user) == 3 + 25
