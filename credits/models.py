"""Credits: an insert-only ledger and one balance row per person, changed together.

The balance row carries a CHECK (balance >= 0) so no bug can overdraw it, and is only
written in the same transaction as the ledger row that explains the change. Each ledger row
has a unique idempotency key, so a repeated grant, charge, refund or Stripe event is a no-op.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TransactionKind(models.TextChoices):
    GRANT = "grant", "Monthly grant"
    TOPUP = "topup", "Top-up"
    CHARGE = "charge", "Charge"
    REFUND = "refund", "Refund"
    FORFEIT = "forfeit", "Forfeit"
    ADJUSTMENT = "adjustment", "Admin adjustment"
    # A top-up or plan payment was refunded or disputed: what it granted is taken back.
    CLAWBACK = "clawback", "Payment refunded or disputed"


class CreditBalance(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credit_balance"
    )
    balance = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="credit_balance_non_negative")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.balance}"


class CreditTransaction(models.Model):
    # Kept (with the user detached) when an account is deleted: the books must still add up.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="credit_transactions"
    )
    amount = models.IntegerField(help_text="Signed: positive adds credits, negative takes them.")
    balance_after = models.IntegerField()
    kind = models.CharField(max_length=16, choices=TransactionKind.choices)
    reason = models.CharField(max_length=200)
    idempotency_key = models.CharField(max_length=200, unique=True)
    job_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    stripe_id = models.CharField(max_length=255, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="credit_transaction_non_zero")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} ({self.idempotency_key})"


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CANCELLING = "cancelling", "Ends at period end"
    # Stripe keeps the subscription but it is not paid (unpaid, paused, incomplete): no
    # paid benefits and no grants until it is paid, and the credits are not forfeited yet.
    SUSPENDED = "suspended", "Payment outstanding"
    ENDED = "ended", "Ended"


# Memberships that give the paid plan's benefits (tier, grants).
PAID_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLING)
# Memberships whose subscription still exists at Stripe (the person manages it in the portal).
OPEN_STATUSES = (*PAID_STATUSES, SubscriptionStatus.SUSPENDED)


class Membership(models.Model):
    """The person's paid plan as we know it from Stripe (none means Free)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    plan = models.CharField(max_length=16)
    interval = models.CharField(max_length=8, default="month")
    status = models.CharField(
        max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    stripe_subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When Stripe created the event whose subscription snapshot set plan and status: an older
    # event delivered late must not undo a newer one (Stripe does not promise order).
    stripe_event_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.plan} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in PAID_STATUSES


class EndedSubscription(models.Model):
    """A Stripe subscription that has ended: nothing arriving later for it grants credits again.

    Kept apart from Membership (one row per person, replaced by a new subscription) so a late
    ``invoice.paid`` for an old subscription still finds that it ended.
    """

    stripe_subscription_id = models.CharField(max_length=255, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    ended_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.stripe_subscription_id} ended {self.ended_at:%Y-%m-%d}"


class StripePayment(models.Model):
    """A Stripe payment that granted credits: what a later refund or dispute of it takes back.

    Recorded when the grant is made (a paid Checkout session or subscription invoice). The
    payment intent links it to the charge that refunds and disputes name; for invoices whose
    payload does not carry it, it is looked up at Stripe when the first refund arrives.
    """

    class Kind(models.TextChoices):
        TOPUP = "topup", "Top-up"
        PLAN = "plan", "Plan"

    source_id = models.CharField(max_length=255, unique=True, help_text="Checkout session or invoice id.")
    payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    # Kept (detached) when the account is deleted, like the ledger rows it explains.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount_cents = models.PositiveIntegerField(default=0, help_text="What was paid, in the smallest unit.")
    subscription_id = models.CharField(max_length=255, blank=True)
    billing_reason = models.CharField(max_length=40, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.source_id}"


class ClawbackCause(models.TextChoices):
    REFUND = "refund", "Refund"
    DISPUTE = "dispute", "Dispute"


class Clawback(models.Model):
    """Credits owed back for one refund (at one refunded total) or one dispute of a payment.

    ``taken`` is what the balance allowed (one ``clawback`` ledger row when above zero);
    ``uncollected`` is the rest, for staff to follow up. A row without a payment is pending:
    its refund or dispute arrived before the payment's grant, and is applied when it comes.
    """

    key = models.CharField(max_length=255, unique=True)
    cause = models.CharField(max_length=8, choices=ClawbackCause.choices)
    payment = models.ForeignKey(StripePayment, null=True, blank=True, on_delete=models.PROTECT)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    invoice_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_id = models.CharField(max_length=255, help_text="The refund's charge or the dispute.")
    cents = models.PositiveIntegerField(help_text="Refunded so far on the charge, or disputed.")
    of_cents = models.PositiveIntegerField(default=0, help_text="The charge's amount (0: the payment's).")
    owed = models.PositiveIntegerField(default=0)
    taken = models.PositiveIntegerField(default=0)
    uncollected = models.PositiveIntegerField(default=0)
    transaction = models.OneToOneField(
        CreditTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="clawback"
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.cause} {self.stripe_id}: {self.taken}/{self.owed}"


class InfraCost(models.Model):
    """A month's infrastructure cost entered by staff (hosting, storage, email …) for the margin."""

    month = models.DateField(help_text="Any day of the month; stored as its first day.")
    name = models.CharField(max_length=100, help_text="What it pays for, e.g. “Hetzner web + database”.")
    amount = models.DecimalField(max_digits=10, decimal_places=2, help_text="US dollars for that month.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="infra_cost_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.name}: ${self.amount}"

    def save(self, *args: object, **kwargs: object) -> None:
        self.month = self.month.replace(day=1)  # one month is one date, so sums group cleanly
        super().save(*args, **kwargs)
