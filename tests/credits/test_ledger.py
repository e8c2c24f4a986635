"""The ledger: exactly-once charges and refunds, idempotent grants, races on PostgreSQL."""

from __future__ import annotations

import re
import threading
from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum

from credits.models import CreditBalance, CreditTransaction
from credits.selectors import credit_balance, next_grant_date
from credits.services import (
    InsufficientCredits,
    InvalidAmount,
    anniversary,
    credits_adjust,
    credits_charge,
    credits_forfeit,
    credits_grant,
    credits_grant_free_month,
    credits_grant_free_months_due,
    credits_refund,
    free_period_start,
)
from tests.factories import UserFactory


def _ledger_sum(user) -> int:
    return CreditTransaction.objects.filter(user=user).aggregate(s=Sum("amount"))["s"] or 0


@pytest.mark.django_db
def test_a_new_account_gets_three_free_credits_once_its_email_is_confirmed(client, mailoutbox):
    client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    from accounts.models import User

    user = User.objects.get(email="new@example.com")
    assert credit_balance(user=user) == 0
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^/\s]+/)", mailoutbox[0].body).group(1)
    client.post(link)
    assert credit_balance(user=user) == 3
    assert CreditTransaction.objects.get(user=user).kind == "grant"


@pytest.mark.django_db
def test_charge_then_refund_once_even_when_refunded_twice(user):
    credits_grant(user=user, amount=5, key="t:1", reason="test")
    base = credit_balance(user=user)
    credits_charge(user=user, amount=4, job_id=77, reason="Restore + colourize")
    assert credit_balance(user=user) == base - 4
    first = credits_refund(job_id=77, reason="failed")
    second = credits_refund(job_id=77, reason="failed again")
    assert first.pk == second.pk
    assert credit_balance(user=user) == base
    assert CreditTransaction.objects.filter(kind="refund").count() == 1


@pytest.mark.django_db
def test_charging_the_same_job_twice_charges_once(user):
    base = credit_balance(user=user)
    credits_charge(user=user, amount=2, job_id=5, reason="x")
    credits_charge(user=user, amount=2, job_id=5, reason="x")
    assert credit_balance(user=user) == base - 2


@pytest.mark.django_db
def test_refund_of_a_job_never_charged_is_a_no_op(user):
    assert credits_refund(job_id=12345, reason="nothing") is None


@pytest.mark.django_db
def test_insufficient_credits_says_balance_and_price_and_changes_nothing(user):
    balance = credit_balance(user=user)
    with pytest.raises(InsufficientCredits) as info:
        credits_charge(user=user, amount=balance + 1, job_id=9, reason="x")
    assert info.value.details == {"balance": balance, "price": balance + 1}
    assert info.value.status == 402
    assert credit_balance(user=user) == balance
    assert not CreditTransaction.objects.filter(job_id=9).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("amount", [0, -3])
def test_grants_and_charges_refuse_zero_or_negative_amounts(user, amount):
    with pytest.raises(InvalidAmount):
        credits_grant(user=user, amount=amount, key=f"bad:{amount}", reason="x")
    with pytest.raises(InvalidAmount):
        credits_charge(user=user, amount=amount, job_id=1, reason="x")


@pytest.mark.django_db
def test_grant_with_a_used_key_grants_once(user):
    credits_grant(user=user, amount=10, key="stripe:evt_1", reason="Top-up")
    credits_grant(user=user, amount=10, key="stripe:evt_1", reason="Top-up")
    assert CreditTransaction.objects.filter(idempotency_key="stripe:evt_1").count() == 1


@pytest.mark.django_db
def test_forfeit_takes_the_whole_pool_in_one_row_once(user):
    credits_grant(user=user, amount=20, key="t:f", reason="x")
    credits_forfeit(user=user, key="forfeit:sub_1", reason="Plan ended")
    credits_forfeit(user=user, key="forfeit:sub_1", reason="Plan ended")
    assert credit_balance(user=user) == 0
    assert CreditTransaction.objects.filter(kind="forfeit").count() == 1


@pytest.mark.django_db
def test_adjustment_needs_a_reason_and_records_who(user, other_user):
    with pytest.raises(InvalidAmount):
        credits_adjust(user=user, amount=5, reason="  ", admin_user=other_user)
    row = credits_adjust(user=user, amount=5, reason="Goodwill", admin_user=other_user)
    assert row.created_by == other_user and row.kind == "adjustment"


@pytest.mark.django_db
def test_balance_row_cannot_go_negative_even_bypassing_services(user):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        CreditBalance.objects.filter(user=user).update(balance=-1)


@pytest.mark.parametrize(
    ("joined", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 1, 31), 2, date(2026, 3, 31)),
        (date(2026, 3, 30), 11, date(2027, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
    ],
)
def test_anniversaries_clamp_to_the_end_of_shorter_months(joined, months, expected):
    assert anniversary(joined, months) == expected


def test_free_period_start_across_month_ends():
    joined = date(2026, 1, 31)
    assert free_period_start(joined, date(2026, 2, 27)) == date(2026, 1, 31)
    assert free_period_start(joined, date(2026, 2, 28)) == date(2026, 2, 28)
    assert free_period_start(joined, date(2026, 3, 30)) == date(2026, 2, 28)
    assert free_period_start(joined, date(2026, 3, 31)) == date(2026, 3, 31)


@pytest.mark.django_db
def test_free_monthly_grant_runs_once_per_period_however_often_the_task_runs(user):
    joined = user.date_joined.date()
    start = credit_balance(user=user)
    next_month = anniversary(joined, 1)
    assert credits_grant_free_months_due(today=next_month) >= 1
    assert credits_grant_free_months_due(today=next_month) == 0
    credits_grant_free_month(user=user, today=next_month)
    assert credit_balance(user=user) == start + 3
    assert next_grant_date(user=user, today=next_month) == anniversary(joined, 2)


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_charges_against_ten_credits_exactly_five_succeed():
    user = UserFactory()
    credits_grant(user=user, amount=10 - credit_balance(user=user), key="setup", reason="setup")
    results: list[str] = []
    barrier = threading.Barrier(20)

    def charge(n: int) -> None:
        barrier.wait()
        try:
            credits_charge(user=user, amount=2, job_id=1000 + n, reason="race")
            results.append("ok")
        except InsufficientCredits:
            results.append("short")
        finally:
            connection.close()

    threads = [threading.Thread(target=charge, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 5
    assert results.count("short") == 15
    assert credit_balance(user=user) == 0
    assert _ledger_sum(user) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_grant_charge_and_refund_keep_ledger_and_balance_equal(capsys):
    user = UserFactory()
    credits_grant(user=user, amount=20, key="base", reason="base")
    for n in range(5):
        credits_charge(user=user, amount=2, job_id=2000 + n, reason="x")
    barrier = threading.Barrier(15)

    def work(n: int) -> None:
        barrier.wait()
        try:
            if n < 5:
                credits_refund(job_id=2000 + n, reason="refund")
            elif n < 10:
                credits_grant(user=user, amount=1, key=f"g:{n}", reason="grant")
            else:
                credits_charge(user=user, amount=2, job_id=3000 + n, reason="charge")
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(15)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    balance = credit_balance(user=user)
    assert balance == _ledger_sum(user)
    assert balance == 3 + 20 - 10 + 10 + 5 - 10
    call_command("credits_audit")
    assert "0 problem(s)" in capsys.readouterr().out


@pytest.mark.audit_breaks
@pytest.mark.django_db
def test_audit_reports_a_balance_that_disagrees_with_its_ledger(user, capsys):
    from django.core.management.base import CommandError

    CreditBalance.objects.filter(user=user).update(balance=99)
    with pytest.raises(CommandError):
        call_command("credits_audit")
    assert "balance 99 but ledger sums to" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_a_charge_inside_the_callers_transaction_commits_or_rolls_back_with_it(user):
    from django.db import transaction

    from accounts.models import User

    start = credit_balance(user=user)

    # given a caller (like job creation) that fails after charging, in its own transaction
    with pytest.raises(RuntimeError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(name="renamed in the same transaction")
        credits_charge(user=user, amount=2, job_id=4001, reason="job that never got saved")
        raise RuntimeError("the job row could not be written")

    # then neither the caller's write nor the charge happened
    assert credit_balance(user=user) == start
    assert not CreditTransaction.objects.filter(job_id=4001).exists()
    assert User.objects.get(pk=user.pk).name != "renamed in the same transaction"

    # and a refused charge leaves the caller's transaction usable
    with transaction.atomic():
        with pytest.raises(InsufficientCredits):
            credits_charge(user=user, amount=start + 1, job_id=4002, reason="too dear")
        credits_charge(user=user, amount=2, job_id=4003, reason="affordable")
    assert credit_balance(user=user) == start - 2
    assert CreditTransaction.objects.filter(job_id=4003, kind="charge").count() == 1


def test_every_job_kind_has_a_price_and_unknown_kinds_are_refused():
    from credits.plans import JOB_PRICES, UnknownKind, job_price

    assert [job_price(k) for k in ("restore", "colourize", "restore_colourize")] == [2, 3, 4]
    assert (job_price("animate"), job_price("bring_together")) == (8, 6)
    with pytest.raises(UnknownKind) as exc:
        job_price("upscale")
    assert exc.value.code == "unknown_kind" and set(exc.value.details["kinds"]) == set(JOB_PRICES)


@pytest.mark.audit_breaks
@pytest.mark.django_db
def test_audit_reports_a_ledger_row_whose_running_balance_is_wrong(user, capsys):
    from django.core.management.base import CommandError

    credits_grant(user=user, amount=5, key="audit:1", reason="test")
    row = credits_charge(user=user, amount=2, job_id=5001, reason="test")
    CreditTransaction.objects.filter(pk=row.pk).update(balance_after=7)
    with pytest.raises(CommandError):
        call_command("credits_audit")
    assert f"ledger row {row.pk} says balance 7 but the rows up to it sum to 6" in capsys.readouterr().out


@pytest.mark.django_db
def test_every_credit_change_writes_one_structured_log_line(user, caplog):
    caplog.set_level("INFO", logger="credits.services")
    credits_grant(user=user, amount=4, key="log:1", reason="Welcome back")
    credits_charge(user=user, amount=2, job_id=6001, reason="Restore of photo 9")
    credits_refund(job_id=6001, reason="Refund: engine failed")
    credits_refund(job_id=6001, reason="Refund: again")

    changes = [r for r in caplog.records if r.getMessage() == "credits changed"]
    assert [(r.kind, r.amount, r.balance, r.user_id) for r in changes] == [
        ("grant", 4, 7, user.pk),
        ("charge", -2, 5, user.pk),
        ("refund", 2, 7, user.pk),
    ]
    assert changes[1].job == 6001 and changes[1].reason == "Restore of photo 9"
    assert [r.key for r in caplog.records if r.getMessage() == "credits change already applied"] == [
        "job:6001:refund"
    ]


@pytest.mark.django_db
def test_daily_free_grants_for_someone_who_joined_on_the_31st_follow_short_months(user):
    from datetime import UTC, datetime, timedelta

    from accounts.models import User

    # given a free member who joined on 31 Jan 2028 (a leap year) and got the sign-up grant
    User.objects.filter(pk=user.pk).update(date_joined=datetime(2028, 1, 31, 23, 30, tzinfo=UTC))
    CreditTransaction.objects.filter(user=user).update(idempotency_key=f"grant:{user.pk}:free:2028-01-31")

    # when beat runs the task every day (twice on some days) until June
    day = date(2028, 1, 31)
    while day <= date(2028, 6, 1):
        credits_grant_free_months_due(today=day)
        if day.day % 7 == 0:
            credits_grant_free_months_due(today=day)
        day += timedelta(days=1)

    # then one grant on each anniversary, clamped to the month's last day
    keys = CreditTransaction.objects.filter(user=user, kind="grant").values_list("idempotency_key", flat=True)
    assert sorted(k.rsplit(":", 1)[1] for k in keys) == [
        "2028-01-31",
        "2028-02-29",
        "2028-03-31",
        "2028-04-30",
        "2028-05-31",
    ]
    assert credit_balance(user=user) == 15
