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
