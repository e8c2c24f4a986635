"""Test-only hooks for worker-loss tests and the fault benchmark (loaded into real workers
with ``--include tests.slow_engine``; nothing in the application imports this).

The local engine sleeps ``TEST_ENGINE_DELAY_S`` seconds before each run, so a test can kill
or stop a worker in the middle of a job, and every run appends its job id to a Redis list as it starts, so
a test can count how often the engine ran for each job.
"""

from __future__ import annotations

import os
import time

import redis
from django.conf import settings

from processing.engines import local
from processing.engines.base import EngineRequest, EngineResult

RUNS_KEY = "tests:engine-runs"

_original_run = local.LocalEngine.run


def _slow_run(self: local.LocalEngine, request: EngineRequest) -> EngineResult:
    redis.Redis.from_url(settings.REDIS_URL).rpush(RUNS_KEY, request.job_ref or "-")
    time.sleep(float(os.environ.get("TEST_ENGINE_DELAY_S", "0")))
    return _original_run(self, request)


local.LocalEngine.run = _slow_run  # type: ignore[method-assign]
