"""Plans, top-up packs and job prices: the price list in one place.

Credits per plan, pack and job kind live here. Money (US cents, for display) and Stripe
price ids come from settings (environment), so the same code runs against test and live
Stripe accounts and a price change needs no deploy.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from rekindle.exceptions import DomainError

FREE = "free"


class UnknownPlan(DomainError):
    code = "unknown_plan"
    status = 422


class UnknownKind(DomainError):
    code = "unknown_kind"
    status = 422


def _dollars(cents: int) -> str:
    return f"${cents / 100:.2f}"


def price_cents(name: str) -> int:
    """The displayed price of "<plan>_<interval>" or "topup_<pack>" (settings.CREDITS_PRICES_CENTS).

    What Stripe charges is its price object's amount; this is what our pages show, kept in
    settings beside the Stripe price ids so the two are changed together.
    """
    return int(settings.CREDITS_PRICES_CENTS.get(name, 0))


@dataclass(frozen=True)
class Plan:
    slug: str
    name: str
    monthly_credits: int

    @property
    def is_paid(self) -> bool:
        return self.slug != FREE

    @property
    def max_size(self) -> tuple[int, int]:
        """The largest result (long side, short side) this plan's jobs get (JOB_SIZE_CAP_*)."""
        return tuple(settings.JOB_SIZE_CAP_PAID if self.is_paid else settings.JOB_SIZE_CAP_FREE)  # type: ignore[return-value]

    @property
    def max_size_display(self) -> str:
        """ "1280 × 720": the plan's result size as people read it."""
        return "{} × {}".format(*self.max_size)

    @property
    def monthly_price_cents(self) -> int:
        return price_cents(f"{self.slug}_month")

    @property
    def annual_price_cents(self) -> int:
        return price_cents(f"{self.slug}_year")

    @property
    def monthly_price_display(self) -> str:
        return _dollars(self.monthly_price_cents)

    @property
    def annual_price_display(self) -> str:
        return _dollars(self.annual_price_cents)

    def stripe_price_id(self, interval: str) -> str:
        return settings.STRIPE_PRICE_IDS.get(f"{self.slug}_{interval}", "")


@dataclass(frozen=True)
class TopUp:
    slug: str
    credits: int

    @property
    def price_cents(self) -> int:
        return price_cents(f"topup_{self.slug}")

    @property
    def price_display(self) -> str:
        return _dollars(self.price_cents)

    @property
    def stripe_price_id(self) -> str:
        return settings.STRIPE_PRICE_IDS.get(f"topup_{self.slug}", "")


PLANS: dict[str, Plan] = {
    p.slug: p
    for p in (
        Plan(FREE, "Free", 3),
        Plan("remember", "Remember", 25),
        Plan("cherish", "Cherish", 60),
        Plan("forever", "Forever", 150),
    )
}

TOPUPS: dict[str, TopUp] = {t.slug: t for t in (TopUp("10", 10), TopUp("30", 30), TopUp("100", 100))}

# Credits per job kind; animate and bring_together are priced for when they are offered.
JOB_PRICES: dict[str, int] = {
    "restore": 2,
    "colourize": 3,
    "restore_colourize": 4,
    "animate": 8,
    "bring_together": 6,
}


def plan_for(slug: str) -> Plan:
    try:
        return PLANS[slug]
    except KeyError as exc:
        raise UnknownPlan(f"There is no plan called “{slug}”.", plans=list(PLANS)) from exc


def topup_for(slug: str) -> TopUp:
    try:
        return TOPUPS[slug]
    except KeyError as exc:
        raise UnknownPlan(f"There is no credit pack called “{slug}”.", packs=list(TOPUPS)) from exc


def job_price(kind: str) -> int:
    try:
        return JOB_PRICES[kind]
    except KeyError as exc:
        raise UnknownKind(f"Unknown kind “{kind}”.", kinds=list(JOB_PRICES)) from exc
