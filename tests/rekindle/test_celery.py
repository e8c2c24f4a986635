"""Celery set-up: real workers on Redis, two queues, paid work drained first."""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings

from rekindle.celery import PRIORITY_QUEUE, STANDARD_QUEUE, app, queue_for_tier
from tests.celery_probe import PROBE_KEY, record
from tests.conftest import start_worker, stop_worker

pytestmark = pytest.mark.integration


@pytest.fixture
def probe(_redis_clean) -> redis.Redis:
    r = redis.Redis.from_url(settings.REDIS_URL)
    r.delete(PROBE_KEY)
    return r


def _wait_for(r: redis.Redis, count: int, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = [x.decode() for x in r.lrange(PROBE_KEY, 0, -1)]
        if len(items) >= count:
            return items
        time.sleep(0.1)
    raise AssertionError(f"only {r.llen(PROBE_KEY)} of {count} tasks ran")


def test_settings_give_at_least_once_delivery_and_prefetch_one():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert {q.name for q in app.conf.task_queues} == {PRIORITY_QUEUE, STANDARD_QUEUE}
    assert app.conf.broker_transport_options["queue_order_strategy"] == "priority"
    assert app.conf.broker_transport_options["visibility_timeout"] >= 3600


def test_paid_tiers_go_to_the_priority_queue():
    assert queue_for_tier("free") == STANDARD_QUEUE
    assert queue_for_tier("remember") == PRIORITY_QUEUE
    assert queue_for_tier("forever") == PRIORITY_QUEUE


def test_a_real_worker_drains_priority_before_standard(db, probe):
    # Given a pile of free work queued before a few paid tasks, with no worker running,
    for n in range(10):
        record.apply_async(args=[f"free-{n}"], queue=STANDARD_QUEUE)
    for n in range(3):
        record.apply_async(args=[f"paid-{n}"], queue=PRIORITY_QUEUE)
    # when one worker starts,
    proc = start_worker(include="tests.celery_probe", name="order")
    try:
        ran = _wait_for(probe, 13)
    finally:
        stop_worker(proc)
    # then it runs every paid task before any free one, each queue in arrival order.
    assert ran[:3] == ["paid-0", "paid-1", "paid-2"]
    assert ran[3:] == [f"free-{n}" for n in range(10)]
