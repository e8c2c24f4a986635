"""Stripe webhooks through dj-stripe's real endpoint, signed with Stripe's scheme.

Events are posted to ``/stripe/webhook/<uuid>/`` with the Django test client; dj-stripe
checks the signature, stores the event and re-fetches objects from the local Stripe server
(tests/credits/stripe_server.py) before our receivers call the billing services.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db.models import Sum
from django.test import Client
from djstripe.models import Event

from credits.billing import stripe_customer_for_user
from credits.models import CreditTransaction
from credits.selectors import credit_balance
from tests.credits import stripe_server
from tests.credits.stripe_server import StripeServer, deliver, make_event, sign

# The local Stripe server and the webhook endpoint, as fixtures of this module.
stripe_api = stripe_server.stripe_api
webhook_url = stripe_server.webhook_url

T0 = 1767225600  # 2026-01-01T00:00:00Z


def _ledger_sum(user: Any) -> int:
    return CreditTransaction.objects.filter(user=user).aggregate(s=Sum("amount"))["s"] or 0


def _topup_session(
    server: StripeServer, customer: str, user_pk: int, *, pack: str = "30", paid: bool = True
) -> dict[str, Any]:
    return server.put(
        {
            "id": f"cs_test_topup_{pack}_{user_pk}",
            "object": "checkout.session",
            "created": T0,
            "livemode": False,
            "mode": "payment",
            "status": "complete",
            "payment_status": "paid" if paid else "unpaid",
            "customer": customer,
            "client_reference_id": str(user_pk),
            "metadata": {"user_id": str(user_pk), "pack": pack},
            "amount_total": 1299,
            "currency": "usd",
            "payment_intent": None,
            "subscription": None,
            "setup_intent": None,
            "url": None,
        }
    )


@pytest.mark.django_db
def test_a_paid_topup_checkout_grants_the_pack_once(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    customer = stripe_customer_for_user(user=user)
    session = _topup_session(stripe_api, customer.id, user.pk)
    event = make_event("checkout.session.completed", session, created=T0)

    response = deliver(client, webhook_url, event)

    assert response.status_code == 200, response.content
    assert credit_balance(user=user) == 3 + 30
    row = CreditTransaction.objects.get(idempotency_key=f"stripe:checkout:{session['id']}")
    assert (row.kind, row.amount, row.stripe_id) == ("topup", 30, session["id"])
    # dj-stripe re-fetched the session from "Stripe" (the local server) while processing.
    assert stripe_api.calls("GET", f"/v1/checkout/sessions/{session['id']}")


@pytest.mark.django_db
def test_replayed_event_has_one_effect(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    customer = stripe_customer_for_user(user=user)
    event = make_event(
        "checkout.session.completed", _topup_session(stripe_api, customer.id, user.pk), created=T0
    )

    first, again = deliver(client, webhook_url, event), deliver(client, webhook_url, event)

    assert first.status_code == again.status_code == 200
    assert credit_balance(user=user) == 33
    assert CreditTransaction.objects.filter(kind="topup").count() == 1
    assert Event.objects.filter(id=event["id"]).count() == 1


@pytest.mark.django_db
def test_a_second_event_for_the_same_session_grants_nothing_more(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    customer = stripe_customer_for_user(user=user)
    session = _topup_session(stripe_api, customer.id, user.pk)
    deliver(client, webhook_url, make_event("checkout.session.completed", session, created=T0))

    response = deliver(
        client, webhook_url, make_event("checkout.session.async_payment_succeeded", session, created=T0 + 5)
    )

    assert response.status_code == 200
    assert credit_balance(user=user) == 33


@pytest.mark.django_db
def test_delayed_payment_grants_only_when_paid(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str
) -> None:
    customer = stripe_customer_for_user(user=user)
    unpaid = _topup_session(stripe_api, customer.id, user.pk, pack="100", paid=False)

    deliver(client, webhook_url, make_event("checkout.session.completed", unpaid, created=T0))
    assert credit_balance(user=user) == 3

    paid = _topup_session(stripe_api, customer.id, user.pk, pack="100", paid=True)
    deliver(
        client, webhook_url, make_event("checkout.session.async_payment_succeeded", paid, created=T0 + 86400)
    )
    assert credit_balance(user=user) == 103


@pytest.mark.django_db
@pytest.mark.parametrize("tamper", ["wrong secret", "changed body", "no signature", "old timestamp"])
def test_invalid_signature_is_refused_and_changes_nothing(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str, tamper: str
) -> None:
    customer = stripe_customer_for_user(user=user)
    event = make_event(
        "checkout.session.completed", _topup_session(stripe_api, customer.id, user.pk), created=T0
    )
    body = json.dumps(event)
    headers = {"HTTP_STRIPE_SIGNATURE": sign(body)}
    if tamper == "wrong secret":
        headers = {"HTTP_STRIPE_SIGNATURE": sign(body, secret="whsec_someone_else")}
    elif tamper == "changed body":
        event["data"]["object"]["metadata"]["pack"] = "100"
        body = json.dumps(event)
    elif tamper == "no signature":
        headers = {}
    elif tamper == "old timestamp":
        headers = {"HTTP_STRIPE_SIGNATURE": sign(body, timestamp=T0)}
    ledger_before = CreditTransaction.objects.count()

    response = client.post(webhook_url, data=body, content_type="application/json", **headers)

    assert response.status_code == 400
    assert credit_balance(user=user) == 3
    assert CreditTransaction.objects.count() == ledger_before
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_event_for_an_unknown_customer_is_logged_and_grants_nothing(
    client: Client, user: Any, stripe_api: StripeServer, webhook_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = stripe_api.put(
        {
            "id": "cus_not_ours",
            "object": "customer",
            "created": T0,
            "livemode": False,
            "email": "x@example.com",
            "metadata": {},
        }
    )
    session = _topup_session(stripe_api, stranger["id"], user.pk)

    response = deliver(client, webhook_url, make_event("checkout.session.completed", session, created=T0))

    assert response.status_code == 200
    assert credit_balance(user=user) == 3
    assert not CreditTransaction.objects.filter(kind="topup").exists()
    assert "unknown customer" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_same_payment_delivered_concurrently_grants_once(
    stripe_api: StripeServer, webhook_url: str
) -> None:
    import threading

    from django.db import connection

    from tests.factories import UserFactory

    # given a paid top-up whose event Stripe sends several times at once, plus a second
    # event type for the same session (async success) racing it
    user = UserFactory()
    customer = stripe_customer_for_user(user=user)
    session = _topup_session(stripe_api, customer.id, user.pk, pack="10")
    completed = make_event("checkout.session.completed", session, created=T0)
    succeeded = make_event("checkout.session.async_payment_succeeded", session, created=T0 + 1)
    events = [completed] * 6 + [succeeded] * 3
    barrier = threading.Barrier(len(events))
    statuses: list[int] = []

    def post(event: dict[str, Any]) -> None:
        try:
            barrier.wait()
            statuses.append(deliver(Client(), webhook_url, event).status_code)
        finally:
            connection.close()

    # when they all arrive together
    threads = [threading.Thread(target=post, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then every delivery is acknowledged and the pack is credited once
    assert statuses == [200] * len(events)
    assert credit_balance(user=user) == 3 + 10
    assert CreditTransaction.objects.filter(user=user, kind="topup").count() == 1
    assert Event.objects.filter(id__in=[completed["id"], succeeded["id"]]).count() == 2
