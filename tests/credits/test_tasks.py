"""The beat tasks through a real Celery worker: run twice in a period, they grant once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from credits.models import CreditTransaction
from credits.selectors import credit_balance
from rekindle.celery import app
from tests.celery_probe import PROBE_KEY, record
from tests.conftest import start_worker, stop_worker
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_free_anniversary_task_run_twice_by_a_real_worker_grants_once(_redis_clean):
    # given a free member who joined 40 days ago and got only the sign-up grant
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - timedelta(days=40))
    assert credit_balance(user=user) == 3
    probe = redis.Redis.from_url(settings.REDIS_URL)
    probe.delete(PROBE_KEY)

    # when beat's messages for both credit tasks arrive twice, then a marker after them
    proc = start_worker(include="tests.celery_probe", name="credits")
    try:
        for _ in range(2):
            app.send_task("credits.grant_free_months", queue="standard")
            app.send_task("credits.grant_annual_months", queue="standard")
        record.apply_async(args=["done"], queue="standard")
        # one solo worker runs a queue in order: the marker comes after all four tasks
        assert probe.blpop(PROBE_KEY, timeout=60) is not None
    finally:
        log = stop_worker(proc)

    # then this month's anniversary grant exists once
    grants = CreditTransaction.objects.filter(user=user, kind="grant")
    assert grants.count() == 2, log[-3000:]
    assert credit_balance(user=user) == 6
