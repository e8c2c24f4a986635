"""Business metrics (/staff/metrics/): users, weekly sign-ups, tiers, MRR, ARPU, revenue, margin.

Fixtures are made with known dates, plans and prices so every figure is worked out by hand.
Prices are the defaults in settings.CREDITS_PRICES_CENTS (pinned here so a changed price list
does not silently change the expected sums).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from credits.metrics import (
    metrics_ai_cost,
    metrics_infra_cost,
    metrics_month,
    metrics_mrr,
    metrics_new_users_per_week,
    metrics_tier_distribution,
    metrics_topup_revenue,
    metrics_users_total,
    percent,
)
from credits.models import CreditTransaction, InfraCost, Membership, TransactionKind
from credits.services import credits_grant
from photos.models import Photo
from processing.models import Job
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PRICES = {
    "remember_month": 999, "remember_year": 9588, "cherish_month": 1999, "cherish_year": 19188,
    "forever_month": 3999, "forever_year": 38388, "topup_10": 499, "topup_30": 1299, "topup_100": 3999,
}  # fmt: skip
NOVEMBER = date(2026, 11, 25)  # a Wednesday


@pytest.fixture(autouse=True)
def _prices(settings):
    settings.CREDITS_PRICES_CENTS = PRICES


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def member(plan: str, interval: str = "month", status: str = "active", **user_fields) -> User:
    person = UserFactory(**user_fields)
    Membership.objects.create(user=person, plan=plan, interval=interval, status=status)
    return person


def joined(when: datetime, **fields) -> User:
    person = UserFactory(**fields)
    User.objects.filter(pk=person.pk).update(date_joined=when)
    return person


def finished_job(owner: User, *, cost: str, finished_at: datetime) -> Job:
    photo = Photo.objects.create(owner=owner, status="ready")
    job = Job.objects.create(
        owner=owner, photo=photo, kind="restore", credits_charged=2, tier="free",
        max_width=854, max_height=480, engine="local",
    )  # fmt: skip
    Job.objects.filter(pk=job.pk).update(status="succeeded", cost=Decimal(cost), finished_at=finished_at)
    return job


def topup(person: User, *, credits: int, key: str, when: datetime | None = None, stripe_id: str = "cs_x"):
    row = credits_grant(
        user=person, amount=credits, key=key, reason="Bought", kind=TransactionKind.TOPUP, stripe_id=stripe_id
    )
    if when:
        CreditTransaction.objects.filter(pk=row.pk).update(created_at=when)
    return row


@pytest.fixture
def subscribers() -> dict[str, User]:
    """Three paying (one yearly, one cancelling), four free of different kinds, one staff."""
    return {
        "remember": member("remember"),  # $9.99
        "cherish_year": member("cherish", interval="year"),  # $191.88 / 12 = $15.99
        "forever_cancelling": member("forever", status="cancelling"),  # still paid: $39.99
        "suspended": member("cherish", status="suspended"),  # payment outstanding: Free tier
        "ended": member("forever", status="ended"),
        "retired_plan": member("legacy"),  # a plan no longer sold is no known price
        "free": UserFactory(),
        "staff": member("forever", is_staff=True),  # ourselves, not customers
    }


# --- Selectors --------------------------------------------------------------------------


def test_new_users_are_counted_per_monday_week_for_twelve_weeks(db):
    this_monday = date(2026, 11, 23)
    joined(at(2026, 11, 23, 0, 0, 0))  # first second of this week
    joined(at(2026, 11, 25, 18))  # today
    joined(at(2026, 11, 22, 23, 59, 59))  # last second of last week (a Sunday)
    joined(at(2026, 9, 7, 0, 0, 0))  # the first of the twelve weeks
    joined(at(2026, 9, 6, 23, 59, 59))  # the week before: not shown
    joined(at(2026, 11, 24), is_staff=True)  # staff are not counted

    weeks = metrics_new_users_per_week(today=NOVEMBER)

    assert len(weeks) == 12
    assert weeks[0].week_start == date(2026, 9, 7) and weeks[-1].week_start == this_monday
    assert all(w.week_start.weekday() == 0 for w in weeks)
    counts = {w.week_start: w.count for w in weeks if w.count}
    assert counts == {date(2026, 9, 7): 1, date(2026, 11, 16): 1, this_monday: 2}
    assert metrics_users_total() == 5


def test_tier_distribution_counts_paying_memberships_and_everyone_else_as_free(subscribers):
    tiers = metrics_tier_distribution()
    assert [(t.slug, t.name, t.count) for t in tiers] == [
        ("free", "Free", 4),  # suspended, ended, retired plan, free
        ("remember", "Remember", 1),
        ("cherish", "Cherish", 1),
        ("forever", "Forever", 1),
    ]
    assert sum(t.count for t in tiers) == metrics_users_total() == 7


def test_mrr_adds_monthly_prices_and_a_twelfth_of_yearly_prices_and_arpu_divides_by_payers(subscribers):
    mrr, paying = metrics_mrr()
    assert (mrr, paying) == (Decimal("65.97"), 3)  # 9.99 + 15.99 + 39.99
    figures = metrics_month(today=NOVEMBER)
    assert figures.arpu == Decimal("21.99")


def test_this_months_revenue_costs_and_margin(subscribers):
    buyer = subscribers["free"]
    topup(buyer, credits=10, key="t1", when=at(2026, 11, 1, 0, 0, 0))  # $4.99
    topup(buyer, credits=30, key="t2", when=at(2026, 11, 30, 23, 59, 59))  # $12.99
    topup(buyer, credits=7, key="t3", when=at(2026, 11, 10))  # matches no pack: counted, priced $0
    topup(buyer, credits=100, key="t4", when=at(2026, 10, 31, 23, 59, 59))  # October
    topup(buyer, credits=100, key="t5", when=at(2026, 11, 10), stripe_id="")  # not paid through Stripe
    finished_job(buyer, cost="10.5000", finished_at=at(2026, 11, 1, 0, 0, 0))
    finished_job(buyer, cost="2.2500", finished_at=at(2026, 11, 30, 23, 59, 59))
    finished_job(buyer, cost="99.0000", finished_at=at(2026, 10, 31, 23, 59, 59))
    finished_job(buyer, cost="99.0000", finished_at=at(2026, 12, 1, 0, 0, 0))
    InfraCost.objects.create(month=date(2026, 11, 17), name="Web and database", amount=Decimal("20.00"))
    InfraCost.objects.create(month=date(2026, 11, 1), name="Email", amount=Decimal("5.50"))
    InfraCost.objects.create(month=date(2026, 10, 1), name="Web and database", amount=Decimal("20.00"))

    assert metrics_topup_revenue(month=NOVEMBER) == (Decimal("17.98"), 3, 1)
    assert metrics_ai_cost(month=NOVEMBER) == Decimal("12.7500")
    assert metrics_infra_cost(month=NOVEMBER) == Decimal("25.50")
    figures = metrics_month(today=NOVEMBER)
    assert figures.month == date(2026, 11, 1)
    assert figures.revenue == Decimal("83.95")  # 65.97 + 17.98
    assert figures.profit == Decimal("45.70")  # 83.95 − 12.75 − 25.50
    assert figures.margin == Decimal("45.70") / Decimal("83.95")
    assert percent(figures.margin) == "54.4%"


def test_without_revenue_there_is_no_margin_or_arpu_rather_than_a_division_by_zero(user):
    finished_job(user, cost="3.0000", finished_at=at(2026, 11, 2))
    figures = metrics_month(today=NOVEMBER)
    assert (figures.revenue, figures.paying_users) == (Decimal("0"), 0)
    assert figures.margin is None and figures.arpu is None
    assert figures.profit == Decimal("-3.0000")
    assert percent(figures.margin) == "—"


# --- The page ---------------------------------------------------------------------------


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    return client


def _metric(html: str, name: str) -> str:
    found = re.search(rf'data-metric="{name}">([^<]*)<', html)
    assert found, name
    return found.group(1)


def test_staff_see_the_figures_and_how_each_is_computed(staff_client, subscribers):
    now = timezone.now()
    topup(subscribers["free"], credits=30, key="t1")  # this month: $12.99
    finished_job(subscribers["free"], cost="4.2500", finished_at=now)
    InfraCost.objects.create(month=now.date(), name="Hetzner", amount=Decimal("1000.00"))

    response = staff_client.get("/staff/metrics/")

    assert response.status_code == 200
    html = response.content.decode()
    assert _metric(html, "users") == "7"
    assert _metric(html, "mrr") == "$65.97"
    assert _metric(html, "arpu") == "$21.99"
    assert _metric(html, "topups") == "$12.99"
    assert _metric(html, "revenue") == "$78.96"
    assert _metric(html, "ai-cost") == "$4.25"
    assert _metric(html, "infra") == "$1,000.00"
    assert _metric(html, "profit") == "-$925.29"  # 78.96 − 4.25 − 1000
    assert _metric(html, "margin") == "-1171.8%"
    assert re.search(r'data-tier="free">\s*<th[^>]*>Free</th>\s*<td[^>]*>4</td>', html)
    assert re.search(r'data-tier="cherish">\s*<th[^>]*>Cherish</th>\s*<td[^>]*>1</td>', html)
    # weekly sign-ups: chart and table, twelve weeks, everyone (not staff) joined this week
    assert html.count("<g data-bar=") == 12
    monday = now.date() - timedelta(days=now.date().weekday())
    assert f"<title>Week of {monday.day} {monday:%b %Y}: 7</title>" in html
    assert "How each number is computed" in html and "yearly price ÷ 12" in html
    assert 'href="/admin/credits/infracost/add/"' in html
    assert "Hetzner" in html


def test_with_no_revenue_the_page_shows_a_dash_for_margin_and_arpu(staff_client):
    html = staff_client.get("/staff/metrics/").content.decode()
    assert _metric(html, "margin") == "—" and _metric(html, "arpu") == "—"
    assert _metric(html, "revenue") == "$0.00"
    assert "Nothing entered yet" in html


def test_people_who_are_not_staff_are_sent_to_the_admin_login(client, user):
    client.force_login(user)
    for c in (client, Client()):  # signed in but not staff, and anonymous
        response = c.get("/staff/metrics/")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=/staff/metrics/")


# --- Infrastructure costs in the admin --------------------------------------------------


@pytest.fixture
def admin_client_staff() -> tuple[Client, User]:
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client, staff


def test_an_infra_cost_added_in_the_admin_records_who_entered_it_and_its_month(admin_client_staff):
    client, staff = admin_client_staff
    someone_else = UserFactory()
    response = client.post(
        "/admin/credits/infracost/add/",
        {"month": "2026-11-17", "name": "Hetzner", "amount": "49.90", "created_by": someone_else.pk},
    )
    assert response.status_code == 302
    cost = InfraCost.objects.get()
    assert (cost.month, cost.amount, cost.created_by) == (date(2026, 11, 1), Decimal("49.90"), staff)


def test_a_negative_infra_cost_is_refused(admin_client_staff):
    client, _ = admin_client_staff
    response = client.post(
        "/admin/credits/infracost/add/", {"month": "2026-11-01", "name": "x", "amount": "-1"}
    )
    assert response.status_code == 200 and not InfraCost.objects.exists()


def test_infra_costs_are_listed_and_filtered_by_month(admin_client_staff):
    client, _ = admin_client_staff
    InfraCost.objects.create(month=date(2026, 11, 1), name="November hosting", amount=Decimal("20"))
    InfraCost.objects.create(month=date(2026, 10, 1), name="October hosting", amount=Decimal("20"))
    listing = client.get("/admin/credits/infracost/").content.decode()
    assert "November hosting" in listing and "October hosting" in listing
    assert "November 2026" in listing and "October 2026" in listing  # the filter's choices
    filtered = client.get("/admin/credits/infracost/?month=2026-11-01").content.decode()
    assert "November hosting" in filtered and "October hosting" not in filtered
    assert "October hosting" not in client.get("/admin/credits/infracost/?month=nonsense").content.decode()
