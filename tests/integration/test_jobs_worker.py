"""Jobs on real Celery workers over Redis: order, lost messages, a killed worker, RunPod."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from credits.models import CreditTransaction, Membership
from credits.selectors import credit_balance
from credits.services import credits_grant
from photos.services import photo_preprocess, photo_upload
from processing import services
from processing.models import Job, JobStatus
from processing.runpod_local import LocalRunPod
from processing.services import job_create, job_run, job_sweep
from tests.conftest import start_worker, stop_worker
from tests.factories import UserFactory
from tests.photos import images

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

API_KEY = "local-test-key"


def ready_photo(user):
    upload = SimpleUploadedFile("p.jpg", images.jpeg(images.photo((640, 480))), content_type="image/jpeg")
    photo = photo_upload(user=user, file=upload, size=upload.size, name="p.jpg")
    return photo_preprocess(photo_id=photo.pk)


def wait_for(predicate, timeout: float = 60.0, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError("condition not met in time")


def all_final(*jobs: Job) -> bool:
    return (
        not Job.objects.filter(pk__in=[j.pk for j in jobs])
        .exclude(status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
        .exists()
    )


def test_job_created_through_the_api_finishes_on_a_real_worker(_redis_clean, client):
    user = UserFactory()
    photo = ready_photo(user)
    client.force_login(user)
    proc = start_worker()
    try:
        response = client.post(
            "/api/v1/jobs", {"photo_id": photo.pk, "kind": "restore"}, content_type="application/json"
        )
        assert response.status_code == 202
        job = Job.objects.get(pk=response.json()["id"])
        wait_for(lambda: all_final(job))
    finally:
        stop_worker(proc)
    body = client.get(f"/api/v1/jobs/{job.pk}").json()
    assert body["status"] == "succeeded", body
    assert body["engine"] == "local" and "not AI" in body["engine_label"]
    assert client.get(body["result_url"]).status_code == 200


def test_a_paid_job_overtakes_free_jobs_already_waiting(_redis_clean):
    free_jobs = []
    for _ in range(4):
        u = UserFactory()
        free_jobs.append(job_create(user=u, photo_id=ready_photo(u).pk, kind="restore"))
    paid_user = UserFactory()
    Membership.objects.create(user=paid_user, plan="cherish", status="active")
    paid_job = job_create(user=paid_user, photo_id=ready_photo(paid_user).pk, kind="restore")
    assert paid_job.tier == "cherish" and (paid_job.max_width, paid_job.max_height) == (1280, 720)

    proc = start_worker()
    try:
        wait_for(lambda: all_final(paid_job, *free_jobs), timeout=120)
    finally:
        stop_worker(proc)
    started = {j.pk: j.started_at for j in Job.objects.all()}
    assert all(started[paid_job.pk] < started[j.pk] for j in free_jobs)


def test_the_sweeper_recovers_a_job_whose_message_was_lost(_redis_clean, monkeypatch):
    user = UserFactory()
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: None)  # the message is lost
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    monkeypatch.undo()
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    proc = start_worker()
    try:
        assert job_sweep() >= 1
        wait_for(lambda: all_final(job))
    finally:
        stop_worker(proc)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert CreditTransaction.objects.filter(job_id=job.pk, kind="charge").count() == 1


@pytest.fixture
def runpod(settings):
    server = LocalRunPod(api_key=API_KEY, endpoint_id="local").start()
    settings.ENGINE = "runpod"
    settings.RUNPOD_API_KEY = API_KEY
    settings.RUNPOD_ENDPOINT_ID = "local"
    settings.RUNPOD_ENDPOINT_BASE_URL = server.base_url
    settings.JOB_POLL_INTERVAL_S = 0.1
    yield server
    server.stop()


def _runpod_env(server: LocalRunPod) -> dict[str, str]:
    return {
        "ENGINE": "runpod",
        "RUNPOD_API_KEY": API_KEY,
        "RUNPOD_ENDPOINT_ID": "local",
        "RUNPOD_ENDPOINT_BASE_URL": server.base_url,
    }


def test_runpod_job_succeeds_over_http_and_records_gpu_cost(runpod):
    user = UserFactory()
    credits_grant(user=user, amount=5, key="setup", reason="setup")
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore_colourize", hints="blue dress")
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.engine == "runpod" and job.external_id
    assert job.gpu_seconds > 0 and job.cost > 0
    assert runpod.stats()["submissions"] == 1


def test_runpod_failed_job_fails_with_its_reason_and_one_refund(runpod):
    runpod.configure(
        fail_jobs=1, fail_error='{"code": "bad_input", "message": "The photo could not be read."}'
    )
    user = UserFactory()
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_code == "engine_bad_input"
    assert job.error_message == "The photo could not be read."
    job_run(job_id=job.pk)  # redelivered: nothing more happens
    assert CreditTransaction.objects.filter(job_id=job.pk, kind="refund").count() == 1
    assert credit_balance(user=user) == 3


def test_runpod_timeouts_and_crashes_are_transient_and_resubmit_on_retry(runpod):
    runpod.configure(timeout_jobs=1)
    user = UserFactory()
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    with pytest.raises(services.TransientEngineError):
        job_run(job_id=job.pk)  # TIMED_OUT: the task retries with backoff
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.external_id == ""  # the next try submits anew
    job_run(job_id=job.pk)  # the retry
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert runpod.stats()["submissions"] == 2


def submitted_then_lost(job: Job) -> str:
    """A first delivery started the job and submitted it to RunPod, then its worker vanished."""
    job = services.job_start(job_id=job.pk)
    request = services.EngineRequest(
        image=services.photo_processing_array(photo=job.photo, max_size=(job.max_width, job.max_height)),
        kind=job.kind,
        max_size=(job.max_width, job.max_height),
    )
    external_id = services.get_engine("runpod").submit(request)
    # Vanished: its heartbeat stops, so after the limit its lease counts as dead.
    Job.objects.filter(pk=job.pk).update(
        external_id=external_id, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    return external_id


def test_a_burst_of_runpod_5xx_while_polling_is_retried_without_resubmitting(runpod):
    runpod.configure(run_delay=0.5)
    user = UserFactory()
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    submitted_then_lost(job)
    runpod.configure(run_delay=0.5, error_burst=3)
    with pytest.raises(services.TransientEngineError):
        job_run(job_id=job.pk)  # a 503 while polling: retry later, keep the RunPod job
    job.refresh_from_db()
    assert job.external_id
    for _ in range(3):
        try:
            job_run(job_id=job.pk)
            break
        except services.TransientEngineError:
            continue
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert runpod.stats()["submissions"] == 1


def test_a_retried_runpod_job_resumes_polling_instead_of_paying_again(runpod):
    runpod.configure(run_delay=1.0)
    user = UserFactory()
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    external_id = submitted_then_lost(job)
    # The redelivered message runs the job again: it polls the same RunPod job.
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.external_id == external_id
    assert runpod.stats()["submissions"] == 1
    assert job.attempts == 2


def test_a_worker_killed_mid_job_still_finishes_it_once_charged_once(runpod, _redis_clean):
    runpod.configure(run_delay=4.0)
    user = UserFactory()
    credits_grant(user=user, amount=10, key="setup", reason="setup")
    proc = start_worker(pool="prefork", name="killme", extra_env=_runpod_env(runpod))
    try:
        job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
        wait_for(lambda: Job.objects.filter(pk=job.pk).exclude(external_id="").exists(), timeout=60)
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert children, "the prefork pool has a child process"
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)  # the child dies mid-poll; the parent requeues the message
        wait_for(lambda: all_final(job), timeout=90)
    finally:
        log = stop_worker(proc)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, log[-3000:]
    assert job.attempts >= 2
    assert runpod.stats()["submissions"] == 1
    assert CreditTransaction.objects.filter(job_id=job.pk, kind="charge").count() == 1
    assert credit_balance(user=user) == 13 - 2


def test_cancelling_a_running_runpod_job_cancels_it_remotely_and_keeps_no_result(runpod):
    import threading

    from django.db import connection

    from processing.services import job_cancel

    runpod.configure(run_delay=5.0)
    user = UserFactory()
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")

    def run() -> None:
        try:
            job_run(job_id=job.pk)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    wait_for(lambda: Job.objects.filter(pk=job.pk).exclude(external_id="").exists(), timeout=30)
    cancelled = job_cancel(user=user, job_id=job.pk)
    worker.join(timeout=30)
    assert not worker.is_alive()
    job.refresh_from_db()
    assert cancelled.status == job.status == JobStatus.CANCELLED
    assert not job.result
    assert "credits were used" in job.error_message  # the engine had started: no refund
    assert not CreditTransaction.objects.filter(job_id=job.pk, kind="refund").exists()
    wait_for(lambda: runpod.stats()["jobs"].get("CANCELLED", 0) == 1, timeout=10)
