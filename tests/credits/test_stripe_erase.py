"""Account deletion erases dj-stripe's copies of the person's payment data, not only the customer.

The events arrive as Stripe sends them (signed, through dj-stripe's endpoint), so dj-stripe
stores each event, its raw webhook body and the objects it re-fetches from the local Stripe
server: the customer with its address, a card payment method, a Checkout session, a payment
intent, a charge with billing details, a subscription and its invoice.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from djstripe.models import (
    Charge,
    Customer,
    Event,
    PaymentIntent,
    PaymentMethod,
    Session,
    WebhookEventTrigger,
)

from accounts.services import account_delete
from credits.billing import stripe_customer_for_user
from credits.models import CreditTransaction
from tests.accounts.gdpr import tables_containing
from tests.credits import stripe_server
from tests.credits.stripe_server import StripeServer, deliver, make_event
from tests.credits.test_stripe_subscriptions import FEB1, JAN1, _invoice, _put_catalogue, _subscription
from tests.factories import DEFAULT_PASSWORD, UserFactory

stripe_api = stripe_server.stripe_api
webhook_url = stripe_server.webhook_url

ADDRESS = {
    "line1": "17 Quellmore Lane",
    "line2": None,
    "city": "Wexbury",
    "postal_code": "WX1 7QL",
    "state": None,
    "country": "GB",
}


def _details(user: Any) -> dict[str, Any]:
    return {"name": user.name, "email": user.email, "phone": "+44 7700 900123", "address": ADDRESS}


def _record_payments(client: Client, server: StripeServer, url: str, user: Any, tag: str) -> str:
    """A customer who bought a pack by card and subscribed: every event Stripe sends for that."""
    customer = stripe_customer_for_user(user=user).id
    server.objects[customer].update(
        email=user.email, name=user.name, phone="+44 7700 900123", address=ADDRESS
    )
    pm = server.put(
        {
            "id": f"pm_{tag}",
            "object": "payment_method",
            "type": "card",
            "created": JAN1,
            "livemode": False,
            "customer": customer,
            "billing_details": _details(user),
            "card": {
                "brand": "visa",
                "last4": "4242",
                "exp_month": 12,
                "exp_year": 2030,
                "country": "GB",
                "funding": "credit",
                "fingerprint": f"fp{tag}",
            },
            "metadata": {},
        }
    )
    charge = server.put(
        {
            "id": f"ch_{tag}",
            "object": "charge",
            "created": JAN1,
            "livemode": False,
            "amount": 1299,
            "amount_captured": 1299,
            "amount_refunded": 0,
            "captured": True,
            "paid": True,
            "refunded": False,
            "disputed": False,
            "status": "succeeded",
            "currency": "usd",
            "customer": customer,
            "payment_intent": f"pi_{tag}",
            "payment_method": pm["id"],
            "billing_details": _details(user),
            "receipt_email": user.email,
            "balance_transaction": None,
            "description": None,
            "failure_code": None,
            "failure_message": None,
            "fraud_details": {},
            "metadata": {},
            "outcome": {
                "network_status": "approved_by_network",
                "type": "authorized",
                "risk_level": "normal",
            },
            "payment_method_details": {"type": "card", "card": {"brand": "visa", "last4": "4242"}},
            "statement_descriptor": None,
            "calculated_statement_descriptor": "REKINDLE",
        }
    )
    intent = server.put(
        {
            "id": f"pi_{tag}",
            "object": "payment_intent",
            "created": JAN1,
            "livemode": False,
            "amount": 1299,
            "amount_received": 1299,
            "currency": "usd",
            "customer": customer,
            "status": "succeeded",
            "payment_method": pm["id"],
            "payment_method_types": ["card"],
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "receipt_email": user.email,
            "description": None,
            "latest_charge": charge["id"],
            "metadata": {},
        }
    )
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
            "customer_details": {"email": user.email, "name": user.name, "address": ADDRESS, "phone": None},
            "client_reference_id": str(user.pk),
            "metadata": {"user_id": str(user.pk), "pack": "30"},
            "amount_total": 1299,
            "currency": "usd",
            "payment_intent": intent["id"],
            "subscription": None,
            "setup_intent": None,
            "url": None,
        }
    )
    sub = server.put(_subscription(f"sub_{tag}", customer, (JAN1, FEB1)))
    invoice = _invoice(f"in_{tag}", sub["id"], customer, (JAN1, FEB1), reason="subscription_create")
    invoice.update(customer_email=user.email, customer_name=user.name, customer_address=ADDRESS)
    server.put(invoice)
    events = [
        make_event("customer.updated", server.objects[customer], created=JAN1),
        make_event("payment_method.attached", pm, created=JAN1 + 1),
        make_event("payment_intent.succeeded", intent, created=JAN1 + 2),
        make_event("charge.succeeded", charge, created=JAN1 + 3),
        make_event("checkout.session.completed", session, created=JAN1 + 4),
        make_event("customer.subscription.created", sub, created=JAN1 + 5),
        make_event("invoice.paid", invoice, created=JAN1 + 6),
    ]
    for event in events:
        response = deliver(client, url, event)
        assert response.status_code == 200, (event["type"], response.content)
    return customer


@pytest.mark.django_db
def test_deleting_the_account_leaves_no_stripe_row_naming_the_person(
    client: Client, stripe_api: StripeServer, webhook_url: str, django_capture_on_commit_callbacks: Any
) -> None:
    # given two people with card payments and plans, recorded as dj-stripe stores them
    _put_catalogue(stripe_api)
    person = UserFactory(name="Agatha Quellmore", email="agatha.quellmore@example.test")
    other = UserFactory(name="Bertram Oxley", email="bertram.oxley@example.test")
    customer = _record_payments(client, stripe_api, webhook_url, person, "agatha")
    other_customer = _record_payments(client, stripe_api, webhook_url, other, "bertram")
    for model in (Charge, PaymentMethod, PaymentIntent, Session):
        assert model.objects.filter(customer_id=customer).exists(), model  # dj-stripe synced them
    for text in (person.email, person.name, customer, "Quellmore Lane"):
        assert {"djstripe_event", "djstripe_webhookeventtrigger"} <= set(tables_containing(text)), text
    assert "djstripe_charge" in tables_containing(person.email)
    assert "djstripe_paymentmethod" in tables_containing(person.name)

    # when the person deletes their account
    with django_capture_on_commit_callbacks(execute=True):
        account_delete(user=person, password=DEFAULT_PASSWORD)

    # then no row anywhere carries their email, name, customer id or payment objects' ids
    for text in (
        person.email,
        person.name,
        customer,
        "pm_agatha",
        "ch_agatha",
    ):
        assert tables_containing(text) == [], text
    # the ledger keeps its rows (amounts and what they granted, by Stripe id), without the person
    assert tables_containing("cs_test_agatha") == ["credits_credittransaction", "credits_stripepayment"]
    assert tables_containing("pi_agatha") == ["credits_stripepayment"]  # what a refund would take back
    assert CreditTransaction.objects.filter(user=None, stripe_id="cs_test_agatha").exists()
    # and the other person's payment data is untouched
    assert Customer.objects.filter(id=other_customer, subscriber=other).exists()
    assert Event.objects.count() == WebhookEventTrigger.objects.count() == 7
    assert all(other_customer in str(event.data) for event in Event.objects.all())
    for model in (Charge, PaymentMethod, PaymentIntent, Session):
        assert model.objects.filter(customer_id=other_customer).exists(), model
