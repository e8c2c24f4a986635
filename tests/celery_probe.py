"""A probe task for testing the Celery set-up itself (loaded into test workers with --include).

It appends its marker to a Redis list, so a test can see which messages a real worker ran,
and in what order.
"""

from __future__ import annotations

import time

import redis
from celery import shared_task
from django.conf import settings

PROBE_KEY = "tests:celery-probe"


@shared_task(name="tests.record")
def record(marker: str, sleep_s: float = 0.0) -> None:
    time.sleep(sleep_s)
    redis.Redis.from_url(settings.REDIS_URL).rpush(PROBE_KEY, marker)


@shared_task(name="tests.touch")
def touch(path: str, marker: str) -> None:
    """Writes a file: for workers that run without Redis (the embedded default)."""
    with open(path, "w") as fh:
        fh.write(marker)
