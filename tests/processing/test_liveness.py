"""Leases and heartbeats: a job finishes once however often it is delivered, the sweeper takes
back jobs whose holder went silent, and a run whose job was deleted keeps no result."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.services import account_erase
from credits.models import CreditTransaction
from credits.services import credits_grant
from photos.services import photo_preprocess, photo_upload
from processing import services
from processing.engines.local import LocalEngine
from processing.models import Job, JobStatus
from processing.services import (
    job_create,
    job_finish,
    job_reserve,
    job_run,
    job_start,
    job_sweep,
)
from tests.photos import images

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_enqueue(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: sent.append(job.pk))
    return sent


def ready_photo(user):
    upload = SimpleUploadedFile("p.jpg", images.jpeg(images.photo((640, 480))), content_type="image/jpeg")
    photo = photo_upload(user=user, file=upload, size=upload.size, name="p.jpg")
    return photo_preprocess(photo_id=photo.pk)


def result_files(media: Path, user_id: int) -> list[str]:
    folder = media / "results" / str(user_id)
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def go_silent(job: Job, seconds: float = 600) -> None:
    """The holder stops beating (killed, frozen): its heartbeat ages past the limit."""
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def test_starting_a_job_takes_a_lease_and_a_duplicate_message_leaves_a_live_run_alone(user):
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    started = job_start(job_id=job.pk)
    assert started.lease and started.worker.endswith(f":{os.getpid()}")
    assert started.heartbeat_at is not None

    # A second delivery while the first run is alive and beating: nothing happens.
    assert job_start(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.lease == started.lease and job.attempts == 1


def test_the_sweeper_takes_back_silent_jobs_running_or_reserved_and_leaves_live_ones(
    user, settings, _no_enqueue, django_capture_on_commit_callbacks
):
    settings.JOB_HEARTBEAT_STALE_S = 30
    credits_grant(user=user, amount=10, key="setup", reason="setup")
    photo = ready_photo(user)
    running = job_create(user=user, photo_id=photo.pk, kind="restore")
    reserved = job_create(user=user, photo_id=photo.pk, kind="restore")
    alive = job_create(user=user, photo_id=photo.pk, kind="restore")
    waiting_in_line = job_create(user=user, photo_id=photo.pk, kind="restore")
    job_start(job_id=running.pk)
    assert job_reserve(job_id=reserved.pk, holder="dead-worker#1:42")
    job_start(job_id=alive.pk)
    go_silent(running)
    go_silent(reserved)
    _no_enqueue.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert job_sweep() == 2
    assert sorted(_no_enqueue) == sorted([running.pk, reserved.pk])
    for job in (running, reserved):
        job.refresh_from_db()
        assert (job.lease, job.worker, job.heartbeat_at) == ("", "", None)
    running.refresh_from_db()
    assert running.status == JobStatus.RUNNING
    alive.refresh_from_db()
    assert alive.lease and alive.worker
    # A queued job nobody reserved is a message in line, not a dead worker's: left alone.
    waiting_in_line.refresh_from_db()
    assert waiting_in_line.status == JobStatus.QUEUED and waiting_in_line.pk not in _no_enqueue


def test_a_run_that_stalled_past_the_limit_and_wakes_keeps_nothing(user, _isolated_media):
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    stalled = job_start(job_id=job.pk)  # the first worker starts, then freezes
    go_silent(stalled)
    assert job_sweep() == 1  # its lease is taken back and the job re-sent

    job_run(job_id=job.pk)  # another worker runs the re-sent message to the end
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
    kept = result_files(_isolated_media, user.pk)
    assert len(kept) == 2  # the result and its thumbnail

    # The first worker wakes up with its own finished result: it is thrown away.
    source = services.photo_processing_array(photo=stalled.photo, max_size=(640, 480))
    late = LocalEngine().run(services.EngineRequest(image=source, kind="restore", max_size=(640, 480)))
    assert job_finish(job=stalled, result=late, cpu_seconds=1.0) is None
    assert services.job_fail(job_id=job.pk, code="x", message="late", lease=stalled.lease) is None
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert result_files(_isolated_media, user.pk) == kept
    assert CreditTransaction.objects.filter(job_id=job.pk, kind="charge").count() == 1
    assert not CreditTransaction.objects.filter(job_id=job.pk, kind="refund").exists()


def test_a_job_still_running_when_its_owner_deletes_the_account_leaves_no_result_behind(
    user, monkeypatch, _isolated_media, django_capture_on_commit_callbacks
):
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    user_id = user.pk

    class DeletedMeanwhile(LocalEngine):
        def run(self, request):
            # The person deletes their account while the engine works; the files of the
            # account are swept at once, before this run writes its result.
            with django_capture_on_commit_callbacks(execute=True):
                account_erase(user=user)
            return super().run(request)

    monkeypatch.setattr(services, "get_engine", lambda name: DeletedMeanwhile())
    job_run(job_id=job.pk)

    assert not Job.objects.filter(pk=job.pk).exists()
    assert result_files(_isolated_media, user_id) == []


def test_workers_sweep_at_most_once_per_interval_between_them(monkeypatch, settings):
    from processing import worker

    settings.JOB_SWEEP_INTERVAL_S = 60
    sweeps: list[int] = []
    monkeypatch.setattr(services, "job_sweep", lambda: sweeps.append(1) or 0)
    worker._sweep_unless_another_worker_did()
    worker._sweep_unless_another_worker_did()  # another worker, the same interval
    assert sweeps == [1]


def test_a_reservation_the_database_refused_is_logged_and_its_connection_not_reused(monkeypatch, caplog):
    from types import SimpleNamespace

    from django.db import OperationalError, connection

    from processing import worker

    def refuse(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    closed: list[bool] = []
    monkeypatch.setattr(services, "job_reserve", refuse)
    monkeypatch.setattr(connection, "close", lambda: closed.append(True))
    worker._record_reservation(request=SimpleNamespace(name="processing.job_run", args=[1]))
    assert closed == [True]
    assert "job reservation not recorded" in caplog.text
