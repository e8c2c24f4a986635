"""Whole workers lost or stopped: real `celery worker` process groups SIGKILLed, frozen
(SIGSTOP, then woken) and stopped with SIGTERM, on PostgreSQL and Redis.

Liveness limits are short here (heartbeat every second, silent after four) so each test takes
seconds; the sweeper is called by the test in a loop, as beat would every JOB_SWEEP_INTERVAL_S.
The local engine is slowed inside the workers by tests/slow_engine.py, which also counts runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from credits.models import CreditTransaction
from credits.services import credits_grant
from processing import services
from processing.models import Job, JobStatus
from processing.runpod_local import LocalRunPod
from processing.services import job_create, job_run, job_sweep
from tests.conftest import start_worker, stop_worker
from tests.factories import UserFactory
from tests.integration.test_jobs_worker import all_final, ready_photo, wait_for
from tests.slow_engine import RUNS_KEY

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {"JOB_HEARTBEAT_S": "1", "JOB_HEARTBEAT_STALE_S": "4"}
API_KEY = "local-test-key"


@pytest.fixture
def fast(settings, _redis_clean):
    settings.JOB_HEARTBEAT_S = 1
    settings.JOB_HEARTBEAT_STALE_S = 4
    redis.Redis.from_url(django_settings.REDIS_URL).delete(RUNS_KEY)
    return settings


def worker(name: str, delay: float, **env: str) -> subprocess.Popen:
    return start_worker(
        name=name,
        pool="prefork",
        concurrency=2,
        include="tests.slow_engine",
        extra_env={**FAST, "TEST_ENGINE_DELAY_S": str(delay), **env},
    )


def engine_runs() -> Counter:
    runs = redis.Redis.from_url(django_settings.REDIS_URL).lrange(RUNS_KEY, 0, -1)
    return Counter(int(r) for r in runs)


def sweep_until(predicate, timeout: float) -> None:
    """What beat does, faster: run the sweeper until the condition holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job_sweep()
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError("condition not met in time")


def held_by(job: Job, name: str) -> bool:
    return Job.objects.filter(pk=job.pk, worker__startswith=f"{name}-").exists()


def running_on(job: Job, name: str) -> bool:
    return (
        Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, worker__startswith=f"{name}-")
        .exclude(lease="")
        .exists()
    )


def result_files(user_id: int) -> list[str]:
    folder = Path(django_settings.MEDIA_ROOT) / "results" / str(user_id)
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def assert_once(job: Job, user_id: int) -> None:
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert CreditTransaction.objects.filter(job_id=job.pk, kind="charge").count() == 1
    assert not CreditTransaction.objects.filter(job_id=job.pk, kind="refund").exists()
    assert (job.lease, job.heartbeat_at) == ("", None)
    assert sorted([Path(job.result.name).name, Path(job.result_thumbnail.name).name]) == [
        f for f in result_files(user_id) if f.startswith(f"{job.pk}-")
    ]


def test_a_killed_worker_group_loses_neither_its_running_nor_its_reserved_job(fast, monkeypatch):
    user = UserFactory()
    credits_grant(user=user, amount=10, key="setup", reason="setup")
    photo = ready_photo(user)
    doomed = worker("doomed", delay=60)
    rescuer = None
    try:
        running = job_create(user=user, photo_id=photo.pk, kind="restore")
        wait_for(lambda: running_on(running, "doomed"), timeout=30)
        # A second job whose message the worker has taken but not started (held for later,
        # like a retry's countdown): only its reservation on the job says who has it.
        send = services.job_enqueue
        monkeypatch.setattr(
            services, "job_enqueue", lambda *, job, countdown=None: send(job=job, countdown=300)
        )
        reserved = job_create(user=user, photo_id=photo.pk, kind="restore")
        monkeypatch.undo()
        wait_for(lambda: held_by(reserved, "doomed"), timeout=30)
        rescuer = worker("rescuer", delay=0)

        os.killpg(doomed.pid, signal.SIGKILL)  # the whole process group: an OOM kill, a lost node
        doomed.wait(timeout=10)
        # Within a minute (silent after 4 s here), not the broker's 2-hour visibility timeout.
        sweep_until(lambda: all_final(running, reserved), timeout=60)
    finally:
        if doomed.poll() is None:
            os.killpg(doomed.pid, signal.SIGKILL)
        if rescuer:
            stop_worker(rescuer)
    for job in (running, reserved):
        assert_once(job, user.pk)
        assert job.worker == "" or job.worker.startswith("rescuer-")
    assert engine_runs() == Counter({running.pk: 2, reserved.pk: 1})


def test_a_worker_that_stalls_past_the_limit_and_wakes_does_not_finish_the_job_again(fast):
    user = UserFactory()
    credits_grant(user=user, amount=10, key="setup", reason="setup")
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    sleepy = worker("sleepy", delay=6, JOB_SHUTDOWN_GRACE_S="60")
    rescuer = None
    try:
        wait_for(lambda: running_on(job, "sleepy"), timeout=30)
        os.killpg(sleepy.pid, signal.SIGSTOP)  # frozen mid-job: a paused VM, a stuck host
        rescuer = worker("rescuer", delay=0)
        sweep_until(lambda: all_final(job), timeout=60)
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED
        os.killpg(sleepy.pid, signal.SIGCONT)  # wakes up and finishes its own run of the job
        sleepy_log = stop_worker(sleepy)  # warm shutdown: waits for that run to end
    finally:
        if sleepy.poll() is None:
            os.killpg(sleepy.pid, signal.SIGCONT)
            sleepy_log = stop_worker(sleepy)
        if rescuer:
            stop_worker(rescuer)
    assert engine_runs() == Counter({job.pk: 2}), sleepy_log[-3000:]
    assert "result discarded" in sleepy_log
    assert_once(job, user.pk)
    assert len(result_files(user.pk)) == 2  # one result and its thumbnail, not two

    # Worker logs are JSON lines with the same fields as the web process, plus task and worker.
    records = [json.loads(line) for line in sleepy_log.splitlines() if line.startswith("{")]
    discarded = [r for r in records if r["message"] == "result discarded"]
    assert discarded and discarded[0]["job_id"] == str(job.pk)
    assert discarded[0]["task_id"] not in ("", "-")
    assert discarded[0]["worker"].startswith("sleepy-")
    assert {"time", "level", "logger", "request_id"} <= discarded[0].keys()


@pytest.fixture
def runpod(settings):
    server = LocalRunPod(api_key=API_KEY, endpoint_id="local").start()
    settings.ENGINE = "runpod"
    settings.RUNPOD_API_KEY = API_KEY
    settings.RUNPOD_ENDPOINT_ID = "local"
    settings.RUNPOD_ENDPOINT_BASE_URL = server.base_url
    settings.JOB_POLL_INTERVAL_S = 0.1
    settings.JOB_POLL_INTERVAL_MAX_S = 0.2
    yield server
    server.stop()


def runpod_env(server: LocalRunPod) -> dict[str, str]:
    return {
        "ENGINE": "runpod",
        "RUNPOD_API_KEY": API_KEY,
        "RUNPOD_ENDPOINT_ID": "local",
        "RUNPOD_ENDPOINT_BASE_URL": server.base_url,
    }


def test_a_stalled_runpod_run_that_wakes_stops_polling_and_the_job_is_submitted_once(
    runpod, settings, monkeypatch
):
    runpod.configure(run_delay=3.0)
    settings.JOB_HEARTBEAT_S = 3600  # the first run's heartbeat thread never beats: it "stalls"
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: None)
    user = UserFactory()
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    first_run_error: list[BaseException] = []

    def first_run() -> None:
        try:
            job_run(job_id=job.pk)
        except BaseException as exc:  # reported by the assertion below
            first_run_error.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=first_run)
    first.start()
    wait_for(lambda: Job.objects.filter(pk=job.pk).exclude(external_id="").exists(), timeout=30)
    external_id = Job.objects.get(pk=job.pk).external_id
    silent_since = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=silent_since)  # silent past the limit
    assert job_sweep() == 1

    job_run(job_id=job.pk)  # the re-sent message, on "another worker": resumes polling
    first.join(timeout=30)
    assert not first.is_alive() and not first_run_error
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.external_id == external_id
    stats = runpod.stats()
    assert stats["submissions"] == 1
    assert stats["jobs"].get("CANCELLED", 0) == 0
    assert CreditTransaction.objects.filter(job_id=job.pk, kind="charge").count() == 1


def test_sigterm_lets_a_local_job_finish_within_the_grace_period(fast):
    user = UserFactory()
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    deploying = worker("deploying", delay=3, JOB_SHUTDOWN_GRACE_S="30")
    try:
        wait_for(lambda: running_on(job, "deploying"), timeout=30)
        deploying.terminate()
        deploying.wait(timeout=40)
    finally:
        stop_worker(deploying)
    assert_once(job, user.pk)
    assert engine_runs() == Counter({job.pk: 1})


def test_sigterm_hands_back_a_long_local_job_after_the_grace_period(fast):
    user = UserFactory()
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    deploying = worker("deploying", delay=120, JOB_SHUTDOWN_GRACE_S="2")
    rescuer = None
    try:
        wait_for(lambda: running_on(job, "deploying"), timeout=30)
        stopped_at = time.monotonic()
        deploying.terminate()
        deploying.wait(timeout=90)
        assert time.monotonic() - stopped_at < 60  # did not wait for the 120 s engine run
        job.refresh_from_db()
        assert job.status == JobStatus.RUNNING and job.lease == ""  # handed back, not stranded
        rescuer = worker("rescuer", delay=0)
        wait_for(lambda: all_final(job), timeout=60)  # re-sent at once: no sweeper needed
    finally:
        stop_worker(deploying)
        if rescuer:
            stop_worker(rescuer)
    assert_once(job, user.pk)


def test_sigterm_hands_back_a_runpod_job_with_its_runpod_id_at_once(runpod, fast):
    runpod.configure(run_delay=20.0)
    user = UserFactory()
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    deploying = worker("deploying", delay=0, JOB_SHUTDOWN_GRACE_S="300", **runpod_env(runpod))
    rescuer = None
    try:
        wait_for(lambda: Job.objects.filter(pk=job.pk).exclude(external_id="").exists(), timeout=30)
        external_id = Job.objects.get(pk=job.pk).external_id
        stopped_at = time.monotonic()
        deploying.terminate()
        deploying.wait(timeout=120)
        assert time.monotonic() - stopped_at < 90  # did not sit out the 300 s grace period
        job.refresh_from_db()
        assert (job.status, job.lease, job.external_id) == (JobStatus.RUNNING, "", external_id)
        rescuer = worker("rescuer", delay=0, **runpod_env(runpod))
        wait_for(lambda: all_final(job), timeout=60)
    finally:
        stop_worker(deploying)
        if rescuer:
            stop_worker(rescuer)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.external_id == external_id
    assert runpod.stats()["submissions"] == 1
    assert CreditTransaction.objects.filter(job_id=job.pk, kind="charge").count() == 1
