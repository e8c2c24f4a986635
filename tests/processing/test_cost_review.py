"""Cost review (/staff/costs/): spend per day and tier, per kind and person, and the daily limits.

Jobs are made directly with known tiers, kinds and costs, then given a ``finished_at`` with a
queryset update, so every figure below is worked out by hand. The spend alerts at 80% and
100% are tested in test_jobs.py (test_spend_alerts_email_admins_at_80_and_100_percent_once_a_day).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from photos.models import Photo
from processing import services
from processing.models import Job, JobStatus, SpendLimit
from processing.selectors import cost_group_limits, cost_per_kind, cost_spend_per_day, cost_top_users
from processing.services import spend_limit_set
from rekindle.charts import GREY, ORANGE, Series, bar_chart, stacked_bar_chart, usd
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 20)


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def finished_job(
    owner,
    *,
    cost: str,
    finished_at: datetime | None,
    tier: str = "free",
    kind: str = "restore",
    gpu_seconds: float = 0.0,
) -> Job:
    """A job that finished at a known time with a known cost (no engine, no credits)."""
    photo = Photo.objects.create(owner=owner, status="ready")
    job = Job.objects.create(
        owner=owner,
        photo=photo,
        kind=kind,
        credits_charged=2,
        tier=tier,
        max_width=854,
        max_height=480,
        engine="local",
    )
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED if finished_at else JobStatus.QUEUED,
        cost=Decimal(cost),
        gpu_seconds=gpu_seconds,
        finished_at=finished_at,
    )
    job.refresh_from_db()
    return job


@pytest.fixture
def staff_client() -> Client:
    """Staff with the permission to change spend limits (what an operator is given)."""
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_spendlimit"))
    client = Client()
    client.force_login(staff)
    client.staff = staff
    return client


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Jobs re-sent to the queue (job_resume_waiting enqueues through job_enqueue)."""
    ids: list[int] = []
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: ids.append(job.pk))
    return ids


# --- Selectors --------------------------------------------------------------------------


def test_spend_per_day_sums_each_utc_day_per_tier_group_over_30_days(user, other_user):
    # given: jobs on both edges of the window and of days, in both tier groups
    finished_job(user, cost="1.2500", tier="free", finished_at=at(TODAY, 0, 0, 0))
    finished_job(other_user, cost="0.7500", tier="free", finished_at=at(TODAY, 23, 59, 59))
    finished_job(user, cost="3.1000", tier="cherish", finished_at=at(TODAY, 10))
    finished_job(user, cost="0.4000", tier="remember", finished_at=at(TODAY - timedelta(days=1), 0, 0, 0))
    first_day = TODAY - timedelta(days=29)  # 22 October: the window is today and the 29 days before
    finished_job(user, cost="5.0000", tier="forever", finished_at=at(first_day, 0, 0, 0))
    finished_job(user, cost="9.0000", tier="free", finished_at=at(first_day) - timedelta(hours=12, seconds=1))
    finished_job(user, cost="7.0000", tier="free", finished_at=at(TODAY + timedelta(days=1), 0, 0, 0))
    finished_job(user, cost="0", tier="free", finished_at=None)  # still queued: no cost yet

    # when
    days = cost_spend_per_day(today=TODAY)

    # then: every day present, oldest first, zero when idle
    assert [d.day for d in days] == [first_day + timedelta(days=i) for i in range(30)]
    assert days[0].day == date(2026, 10, 22) and days[-1].day == TODAY
    spent = {d.day: (d.free, d.paid) for d in days if d.total}
    assert spent == {
        date(2026, 10, 22): (Decimal("0"), Decimal("5.0000")),
        date(2026, 11, 19): (Decimal("0"), Decimal("0.4000")),
        date(2026, 11, 20): (Decimal("2.0000"), Decimal("3.1000")),
    }
    assert days[-1].total == Decimal("5.1000")


def test_cost_per_kind_counts_finished_jobs_with_totals_averages_and_gpu_seconds(user):
    finished_job(user, cost="0.3000", kind="restore", gpu_seconds=10, finished_at=at(TODAY))
    finished_job(
        user, cost="0.1000", kind="restore", gpu_seconds=4.5, finished_at=at(TODAY - timedelta(days=3))
    )
    finished_job(user, cost="0.2000", kind="restore", gpu_seconds=6, finished_at=at(TODAY, 1))
    finished_job(user, cost="1.0000", kind="restore_colourize", gpu_seconds=30, finished_at=at(TODAY))
    finished_job(user, cost="0.0000", kind="colourize", gpu_seconds=0, finished_at=at(TODAY))  # local engine
    finished_job(user, cost="8.0000", kind="restore", finished_at=at(TODAY - timedelta(days=30)))  # outside

    kinds = cost_per_kind(today=TODAY)

    assert [(k.kind, k.jobs, k.total, k.average, k.gpu_seconds) for k in kinds] == [
        ("restore_colourize", 1, Decimal("1.0000"), Decimal("1.0000"), 30.0),
        ("restore", 3, Decimal("0.6000"), Decimal("0.2000"), 20.5),
        ("colourize", 1, Decimal("0.0000"), Decimal("0.0000"), 0.0),
    ]
    assert kinds[0].label == "Restore + colourize"


def test_the_top_ten_users_are_the_most_expensive_in_the_window_in_order(db):
    people = [UserFactory(email=f"p{i:02d}@example.com") for i in range(12)]
    for i, person in enumerate(people):
        # p00 costs $1, p01 $2 … p11 $12
        finished_job(person, cost=f"{i + 1}.0000", tier="cherish", finished_at=at(TODAY - timedelta(days=i)))
    finished_job(people[0], cost="0.5000", finished_at=at(TODAY))
    # an expensive job before the window does not count
    finished_job(people[0], cost="100.0000", finished_at=at(TODAY - timedelta(days=31)))
    # a tie on cost is broken by more jobs, then by email
    tied = UserFactory(email="z-tied@example.com")
    finished_job(tied, cost="3.5000", finished_at=at(TODAY))
    finished_job(tied, cost="3.5000", finished_at=at(TODAY, 13))
    same = UserFactory(email="a-same@example.com")
    finished_job(same, cost="6.0000", finished_at=at(TODAY))

    top = cost_top_users(today=TODAY)

    assert [(u.email, u.jobs, u.total) for u in top] == [
        ("p11@example.com", 1, Decimal("12.0000")),
        ("p10@example.com", 1, Decimal("11.0000")),
        ("p09@example.com", 1, Decimal("10.0000")),
        ("p08@example.com", 1, Decimal("9.0000")),
        ("p07@example.com", 1, Decimal("8.0000")),
        ("z-tied@example.com", 2, Decimal("7.0000")),
        ("p06@example.com", 1, Decimal("7.0000")),
        ("a-same@example.com", 1, Decimal("6.0000")),
        ("p05@example.com", 1, Decimal("6.0000")),
        ("p04@example.com", 1, Decimal("5.0000")),
    ]
    assert top[0].user_id == people[11].pk


def test_group_limits_show_todays_spend_percent_and_why_a_group_is_paused(user):
    spend_limit_set(group="free", daily_limit=Decimal("10"))
    spend_limit_set(group="paid", daily_limit=Decimal("4"))
    now = timezone.now()
    finished_job(user, cost="2.5000", tier="free", finished_at=now)
    finished_job(user, cost="4.0000", tier="cherish", finished_at=now)

    free, paid = cost_group_limits()

    assert (free.group, free.daily_limit, free.spent_today, free.percent) == (
        "free",
        Decimal("10.00"),
        Decimal("2.5000"),
        25,
    )
    assert free.pause_reason is None and not free.limit_reached
    assert (paid.spent_today, paid.percent, paid.limit_reached) == (Decimal("4.0000"), 100, True)
    assert "budget" in paid.pause_reason and not paid.paused_manually
    spend_limit_set(group="free", paused=True)
    assert "paused" in cost_group_limits()[0].pause_reason


# --- Charts -----------------------------------------------------------------------------


def test_stacked_chart_has_one_bar_per_day_with_its_figures_in_the_title():
    svg = stacked_bar_chart(
        label="Spend per day",
        categories=["Mon 16 Nov 2026", "Tue 17 Nov 2026", "Wed 18 Nov 2026"],
        series=[
            Series(name="free", color=GREY, values=[Decimal("1.5"), Decimal("0"), Decimal("0")]),
            Series(name="paid", color=ORANGE, values=[Decimal("2.5"), Decimal("0"), Decimal("1234.5")]),
        ],
        value_format=usd,
    )
    assert svg.startswith("<svg") and 'role="img"' in svg and 'aria-label="Spend per day"' in svg
    assert re.findall(r"<title>([^<]*)</title>", svg) == [
        "Mon 16 Nov 2026: free $1.50, paid $2.50, total $4.00",
        "Tue 17 Nov 2026: free $0.00, paid $0.00, total $0.00",
        "Wed 18 Nov 2026: free $0.00, paid $1,234.50, total $1,234.50",
    ]
    assert svg.count("<g data-bar=") == 3
    # the tallest bar fills the height; a zero bar draws no coloured rectangle
    assert 'height="100" fill="#c2410c"' in svg
    assert svg.count('data-series="free"') == 1 and svg.count('data-series="paid"') == 2


def test_chart_text_is_escaped_and_a_series_of_the_wrong_length_is_refused():
    svg = bar_chart(label='A "quoted" <label>', categories=["<b>x</b>"], values=[3])
    assert "<b>" not in svg and "&lt;b&gt;x&lt;/b&gt;: 3" in svg and "&quot;quoted&quot;" in svg
    with pytest.raises(ValueError, match="2 values for 1 bars"):
        bar_chart(label="x", categories=["a"], values=[1, 2])


def test_usd_formats_dollars_with_two_decimals_and_a_dash_for_nothing():
    assert usd(Decimal("1234.5")) == "$1,234.50"
    assert usd(Decimal("0.005")) == "$0.01"
    assert usd(Decimal("-3")) == "-$3.00"
    assert usd(None) == "—"


# --- The page ---------------------------------------------------------------------------


def test_staff_see_spend_per_day_kinds_top_users_and_limits(staff_client, user, other_user):
    today = timezone.now().date()
    finished_job(
        user, cost="1.2500", tier="free", kind="restore", gpu_seconds=12, finished_at=at(today, 0, 0, 1)
    )
    finished_job(other_user, cost="3.1000", tier="cherish", kind="colourize", finished_at=at(today, 0, 0, 2))
    yesterday = today - timedelta(days=1)
    finished_job(user, cost="0.4000", tier="remember", kind="restore", finished_at=at(yesterday))

    response = staff_client.get("/staff/costs/")

    assert response.status_code == 200
    html = response.content.decode()
    # the chart: one bar per day for 30 days, today's title with both groups
    assert html.count("<g data-bar=") == 30
    title = f"{today:%a} {today.day} {today:%b %Y}: free $1.25, paid $3.10, total $4.35"
    assert f"<title>{title}</title>" in html
    assert (
        f"<title>{yesterday:%a} {yesterday.day} {yesterday:%b %Y}: free $0.00, paid $0.40, total $0.40"
        in html
    )
    # the table beside it
    assert "free $1.25 · paid $3.50" in html
    # per kind: restore 2 jobs $1.65 (avg $0.8250), colourize 1 job $3.10
    assert re.search(r"Restore</th>\s*<td[^>]*>2</td>\s*<td[^>]*>\$1.65</td>\s*<td[^>]*>\$0.8250</td>", html)
    # top users, most expensive first, linked to their admin page
    emails = re.findall(
        r'<tr class="border-t border-stone-200" data-top-user>.*?>([^<>]+@example\.com)</a>', html, re.S
    )
    assert emails == [other_user.email, user.email]
    assert f'href="/admin/accounts/user/{other_user.pk}/change/"' in html
    # limits: today's spend against the defaults ($50 free, $500 paid)
    assert re.search(r"Spent today</dt><dd>\$1.25</dd>\s*<dt[^>]*>Used</dt><dd>2%</dd>", html)
    assert "Pause free tier" in html and "Pause paid tier" in html
    assert 'href="/admin/"' in html


def test_people_who_are_not_staff_are_sent_to_the_admin_login(client, user):
    client.force_login(user)
    for c in (client, Client()):  # signed in but not staff, and anonymous
        get = c.get("/staff/costs/")
        assert get.status_code == 302 and get["Location"].startswith("/admin/login/?next=/staff/costs/")
        post = c.post("/staff/costs/", {"group": "free", "action": "pause"})
        assert post.status_code == 302 and post["Location"].startswith("/admin/login/")
    assert not SpendLimit.objects.filter(paused_manually=True).exists()


def test_pausing_and_resuming_a_group_changes_its_limit_row_and_resends_waiting_jobs(
    staff_client, user, sent
):
    response = staff_client.post("/staff/costs/", {"group": "paid", "action": "pause"}, follow=True)
    assert response.redirect_chain == [("/staff/costs/", 302)]
    assert "Paid tier paused" in response.content.decode()
    assert "Paused by staff" in response.content.decode()
    assert SpendLimit.objects.get(tier_group="paid").paused_manually is True
    assert services.pause_reason("paid") is not None and services.pause_reason("free") is None
    # a paid job that waited while paused
    waiting = finished_job(user, cost="0", tier="cherish", finished_at=None)
    Job.objects.filter(pk=waiting.pk).update(waiting_reason="Processing is paused for maintenance")

    response = staff_client.post("/staff/costs/", {"group": "paid", "action": "resume"}, follow=True)

    assert "Paid tier resumed." in response.content.decode()
    assert SpendLimit.objects.get(tier_group="paid").paused_manually is False
    assert sent == [waiting.pk]
    assert Job.objects.get(pk=waiting.pk).waiting_reason == ""


def test_a_new_limit_is_saved_and_who_changed_it_is_logged(staff_client, caplog):
    spend_limit_for_free = SpendLimit.objects.filter(tier_group="free")
    with caplog.at_level("INFO", logger="processing.views"):
        response = staff_client.post(
            "/staff/costs/", {"group": "free", "action": "limit", "daily_limit": "75.5"}
        )
    assert response.status_code == 302
    assert spend_limit_for_free.get().daily_limit == Decimal("75.50")
    record = next(r for r in caplog.records if r.getMessage() == "spend limit changed")
    assert record.changed_by == staff_client.staff.pk and record.tier_group == "free"
    assert record.change == "daily limit $50.00 → $75.50"
    entry = LogEntry.objects.get()
    assert entry.user == staff_client.staff and "free daily limit $50.00 → $75.50" in entry.change_message
    assert "Free tier daily limit set to $75.50." in staff_client.get("/staff/costs/").content.decode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "must be more than $0"),
        ("0", "must be more than $0"),
        ("fifty", "Enter the daily limit as a number of dollars"),
        ("", "Enter a daily limit in dollars"),
        ("NaN", "Enter the daily limit as a number of dollars"),
        ("10.005", "at most two decimals"),
    ],
)
def test_a_bad_limit_shows_an_error_and_changes_nothing(staff_client, value, message):
    spend_limit_set(group="paid", daily_limit=Decimal("500"))
    response = staff_client.post("/staff/costs/", {"group": "paid", "action": "limit", "daily_limit": value})
    assert response.status_code == 400
    html = response.content.decode().replace("&#x27;", "'")
    assert message in html
    assert 'id="paid-daily_limit_error"' in html  # beside the paid group's field, not the free one
    assert SpendLimit.objects.get(tier_group="paid").daily_limit == Decimal("500")
    assert not LogEntry.objects.exists()


def test_an_unknown_group_or_action_is_refused(staff_client):
    for data in ({"group": "vip", "action": "pause"}, {"group": "free", "action": "explode"}):
        response = staff_client.post("/staff/costs/", data)
        assert response.status_code == 400
        assert "nothing was changed" in response.content.decode()
    assert not SpendLimit.objects.filter(paused_manually=True).exists()


def test_staff_without_the_spend_limit_permission_see_the_page_but_cannot_change_limits():
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    page = client.get("/staff/costs/")
    assert page.status_code == 200 and "Pause free tier" not in page.content.decode()
    assert client.post("/staff/costs/", {"group": "free", "action": "pause"}).status_code == 403
    assert not SpendLimit.objects.filter(paused_manually=True).exists()


def test_the_admin_index_links_to_the_operations_pages():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    html = client.get("/admin/").content.decode()
    assert "Operations" in html
    assert '<a href="/staff/costs/">Cost review</a>' in html
    assert '<a href="/staff/metrics/">Business metrics</a>' in html
    assert '<a href="/admin/processing/report/">Moderation queue</a>' in html
