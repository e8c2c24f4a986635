"""Business metrics for staff: users, tiers, recurring revenue, this month's costs and margin.

Reads only, computed from the tables that already hold the truth (accounts, memberships, the
credit ledger, job costs, staff-entered infrastructure costs) at the moment of asking; nothing
is stored. Prices come from ``credits.plans`` (``CREDITS_PRICES_CENTS``), the same figures the
credits page shows. Every figure is defined in ``METRIC_DEFINITIONS`` (shown on the page) and
in docs/operations.md.

Staff accounts are left out of the people counts: they are us, not customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from accounts.models import User
from credits.models import PAID_STATUSES, CreditTransaction, InfraCost, Membership, TransactionKind
from credits.plans import FREE, PLANS, TOPUPS
from processing.models import Job

WEEKS_SHOWN = 12
CENT = Decimal("0.01")

METRIC_DEFINITIONS: list[tuple[str, str]] = [
    ("Users", "Accounts that are not staff, suspended ones included."),
    (
        "New users per week",
        "Accounts (not staff) by the Monday-to-Sunday week (UTC) they joined in; the last bar is "
        "this week so far.",
    ),
    (
        "Tier distribution",
        "Paying: a membership that is active or cancelling at period end (still paid for). "
        "Free: every other user, including memberships whose payment is outstanding.",
    ),
    (
        "MRR",
        "Monthly recurring revenue: the sum over paying memberships of the plan's monthly price, "
        "or its yearly price ÷ 12 for yearly billing, at the prices in CREDITS_PRICES_CENTS.",
    ),
    ("ARPU", "Average revenue per paying user: MRR ÷ paying users (— when nobody pays)."),
    (
        "Top-up revenue",
        "Credit packs bought this calendar month (UTC): top-up ledger rows paid through Stripe, "
        "each priced at its pack's current price.",
    ),
    ("Revenue", "MRR + this month's top-up revenue."),
    ("AI cost", "The sum of the engine cost of every job that finished this calendar month (UTC)."),
    ("Infrastructure", "The costs staff entered for this month (hosting, storage, email …)."),
    ("Profit", "Revenue − AI cost − infrastructure."),
    ("Margin", "Profit ÷ revenue (— when there is no revenue)."),
]


@dataclass(frozen=True)
class WeekCount:
    week_start: date
    count: int


@dataclass(frozen=True)
class TierCount:
    slug: str
    name: str
    count: int


@dataclass(frozen=True)
class MonthFigures:
    """This month's money, in dollars (unrounded; the page rounds to cents)."""

    month: date
    mrr: Decimal
    paying_users: int
    topup_revenue: Decimal
    topups: int
    # Top-up rows whose credit amount matches no pack (priced at nothing, shown so staff can look).
    topups_unpriced: int
    ai_cost: Decimal
    infra_cost: Decimal

    @property
    def arpu(self) -> Decimal | None:
        return self.mrr / self.paying_users if self.paying_users else None

    @property
    def revenue(self) -> Decimal:
        return self.mrr + self.topup_revenue

    @property
    def profit(self) -> Decimal:
        return self.revenue - self.ai_cost - self.infra_cost

    @property
    def margin(self) -> Decimal | None:
        """Profit as a fraction of revenue; None without revenue (there is nothing to divide by)."""
        return self.profit / self.revenue if self.revenue else None


def month_start(day: date) -> date:
    return day.replace(day=1)


def _month_bounds(month: date) -> tuple[datetime, datetime]:
    first = month_start(month)
    following = (first + timedelta(days=32)).replace(day=1)
    return datetime.combine(first, time.min, tzinfo=UTC), datetime.combine(following, time.min, tzinfo=UTC)


def _customers():
    return User.objects.filter(is_staff=False)


def metrics_users_total() -> int:
    return _customers().count()


def metrics_new_users_per_week(*, today: date | None = None, weeks: int = WEEKS_SHOWN) -> list[WeekCount]:
    """Sign-ups per week (weeks start on Monday, UTC), oldest first, every week present."""
    today = today or timezone.now().date()
    this_monday = today - timedelta(days=today.weekday())
    first = this_monday - timedelta(weeks=weeks - 1)
    start = datetime.combine(first, time.min, tzinfo=UTC)
    rows = (
        _customers()
        .filter(date_joined__gte=start, date_joined__lt=start + timedelta(weeks=weeks))
        .annotate(week=TruncWeek("date_joined", tzinfo=UTC))
        .values("week")
        .annotate(count=Count("id"))
    )
    found = {row["week"].date(): row["count"] for row in rows}
    return [
        WeekCount(week_start=week, count=found.get(week, 0))
        for week in (first + timedelta(weeks=i) for i in range(weeks))
    ]


def _paying_memberships():
    # Plans no longer in PLANS are not known prices; user_tier treats them as Free too.
    return Membership.objects.filter(status__in=PAID_STATUSES, plan__in=PLANS, user__is_staff=False)


def metrics_tier_distribution() -> list[TierCount]:
    """Users per tier: Free first, then each paid plan in price-list order (zeros included)."""
    paid = dict(_paying_memberships().values_list("plan").annotate(n=Count("id")))
    free = metrics_users_total() - sum(paid.values())
    return [
        TierCount(slug=plan.slug, name=plan.name, count=free if plan.slug == FREE else paid.get(plan.slug, 0))
        for plan in PLANS.values()
    ]


def metrics_mrr() -> tuple[Decimal, int]:
    """(MRR in dollars, paying users): monthly price, or yearly price ÷ 12, per paying membership."""
    total = Decimal("0")
    paying = 0
    for plan_slug, interval in _paying_memberships().values_list("plan", "interval"):
        plan = PLANS[plan_slug]
        if interval == "year":
            total += Decimal(plan.annual_price_cents) / 12 / 100
        else:
            total += Decimal(plan.monthly_price_cents) / 100
        paying += 1
    return total, paying


def metrics_topup_revenue(*, month: date) -> tuple[Decimal, int, int]:
    """(dollars, packs sold, rows priced at nothing) for Stripe-paid top-ups in the month."""
    start, end = _month_bounds(month)
    price_by_credits = {pack.credits: Decimal(pack.price_cents) / 100 for pack in TOPUPS.values()}
    amounts = CreditTransaction.objects.filter(
        kind=TransactionKind.TOPUP, created_at__gte=start, created_at__lt=end
    ).exclude(stripe_id="")
    total, sold, unpriced = Decimal("0"), 0, 0
    for credits in amounts.values_list("amount", flat=True):
        sold += 1
        if credits in price_by_credits:
            total += price_by_credits[credits]
        else:
            unpriced += 1
    return total, sold, unpriced


def metrics_ai_cost(*, month: date) -> Decimal:
    start, end = _month_bounds(month)
    finished = Job.objects.filter(finished_at__gte=start, finished_at__lt=end)
    return finished.aggregate(total=Sum("cost"))["total"] or Decimal("0")


def metrics_infra_cost(*, month: date) -> Decimal:
    return InfraCost.objects.filter(month=month_start(month)).aggregate(total=Sum("amount"))[
        "total"
    ] or Decimal("0")


def metrics_infra_items(*, month: date) -> list[InfraCost]:
    return list(InfraCost.objects.filter(month=month_start(month)).order_by("name"))


def metrics_month(*, today: date | None = None) -> MonthFigures:
    """This calendar month's revenue, costs and the figures derived from them."""
    month = month_start(today or timezone.now().date())
    mrr, paying = metrics_mrr()
    topup_revenue, topups, unpriced = metrics_topup_revenue(month=month)
    return MonthFigures(
        month=month,
        mrr=mrr,
        paying_users=paying,
        topup_revenue=topup_revenue,
        topups=topups,
        topups_unpriced=unpriced,
        ai_cost=metrics_ai_cost(month=month),
        infra_cost=metrics_infra_cost(month=month),
    )


def percent(fraction: Decimal | None) -> str:
    """A fraction as a percentage with one decimal ("42.5%"); "—" when it does not exist."""
    if fraction is None:
        return "—"
    return f"{(fraction * 100).quantize(Decimal('0.1'))}%"
