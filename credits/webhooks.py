"""dj-stripe webhook receivers: read the verified event, call a billing service.

dj-stripe's endpoint (``/stripe/webhook/<uuid>/``) checks the signature against its
``WebhookEndpoint``'s secret, stores the ``Event`` (a replayed event id is not processed
again) and sends one signal per event type, inside the transaction that stores the event:
an exception here rolls the event back and answers 500, so Stripe delivers it again.

We read the object from the event (Stripe's snapshot when the event happened), not from
dj-stripe's re-fetched copy, and order snapshots by the event's ``created`` time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from djstripe.event_handlers import djstripe_receiver
from djstripe.models import Event

from credits.billing import (
    membership_apply_subscription,
    payment_disputed,
    payment_refunded,
    subscription_invoice_paid,
    topup_checkout_paid,
)


def _created(event: Event) -> datetime:
    """When Stripe created the event (dj-stripe stores Stripe's own ``created``)."""
    return event.created or datetime.now(tz=UTC)


@djstripe_receiver(["checkout.session.completed", "checkout.session.async_payment_succeeded"])
def on_checkout_paid(sender: type[Event], event: Event, **kwargs: Any) -> None:
    topup_checkout_paid(session=event.data["object"])


@djstripe_receiver("invoice.paid")
def on_invoice_paid(sender: type[Event], event: Event, **kwargs: Any) -> None:
    subscription_invoice_paid(invoice=event.data["object"], event_at=_created(event))


@djstripe_receiver(
    ["customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"]
)
def on_subscription_changed(sender: type[Event], event: Event, **kwargs: Any) -> None:
    membership_apply_subscription(sub=event.data["object"], event_at=_created(event))


@djstripe_receiver("charge.refunded")
def on_charge_refunded(sender: type[Event], event: Event, **kwargs: Any) -> None:
    payment_refunded(charge=event.data["object"])


@djstripe_receiver(["charge.dispute.created", "charge.dispute.funds_withdrawn"])
def on_charge_disputed(sender: type[Event], event: Event, **kwargs: Any) -> None:
    payment_disputed(dispute=event.data["object"])
