"""Live progress: the worker's per-step reports reach the job page through the RunPod engine's
polling ("Restoring… step 12 of 40" with a real progress bar)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from credits.services import credits_grant
from processing.engines.base import EngineProgress
from processing.engines.runpod import parse_progress
from processing.models import Job, JobStatus
from processing.runpod_local import LocalRunPod
from processing.runpod_worker.handler import handler
from processing.services import job_create, job_progress_record, job_run
from tests.processing.conftest import API_KEY
from tests.processing.test_jobs import ready_photo


def running_job(user, kind: str = "restore") -> Job:
    credits_grant(user=user, amount=10, key=f"setup:{user.pk}:{kind}", reason="setup")
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind=kind)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    job.refresh_from_db()
    return job


def test_a_running_job_shows_its_step_and_a_real_progress_bar(signed_in_client, user, _no_enqueue):
    job = running_job(user)
    job_progress_record(job_id=job.pk, progress=EngineProgress(step=12, steps=40))

    page = signed_in_client.get(f"/jobs/{job.pk}/").content.decode()
    fragment = signed_in_client.get(f"/jobs/{job.pk}/", headers={"HX-Request": "true"}).content.decode()

    for html in (page, fragment):
        assert '<p id="job-progress-label" class="mt-2">Restoring… step 12 of 40</p>' in html
        assert (
            '<progress class="w-full" max="40" value="12" aria-labelledby="job-progress-label">30%</progress>'
            in html
        )


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        ("colourize", "Colourizing… step 3 of 8"),
        ("restore_colourize", "Restoring and colourizing… step 3 of 8"),
    ],
)
def test_the_label_names_the_kind_of_work(signed_in_client, user, _no_enqueue, settings, kind, label):
    settings.ENGINE = "runpod"  # the engine that colourizes (and reports steps)
    job = running_job(user, kind)
    job_progress_record(job_id=job.pk, progress=EngineProgress(step=3, steps=8))

    assert label in signed_in_client.get(f"/jobs/{job.pk}/").content.decode()


def test_without_a_report_the_bar_is_indeterminate_and_labelled(signed_in_client, user, _no_enqueue):
    job = running_job(user)

    html = signed_in_client.get(f"/jobs/{job.pk}/").content.decode()

    assert '<progress class="w-full mt-2" aria-label="Working on your photo"></progress>' in html
    assert "step" not in html


def test_a_finished_job_shows_no_progress(signed_in_client, user, _no_enqueue):
    job = running_job(user)
    job_progress_record(job_id=job.pk, progress=EngineProgress(step=40, steps=40))
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error_message="It broke.")

    html = signed_in_client.get(f"/jobs/{job.pk}/").content.decode()

    assert "<progress" not in html and "step 40" not in html


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ({"stage": "restore", "step": 3, "steps": 40}, EngineProgress(3, 40)),
        ({"step": 0, "steps": 4}, EngineProgress(0, 4)),
        ({"step": 5, "steps": 4}, None),
        ({"step": "3", "steps": 40}, None),
        ({"step": True, "steps": 4}, None),
        ({"step": 1, "steps": 0}, None),
        ("step 3 of 40", None),
        (None, None),
    ],
)
def test_only_a_well_formed_report_counts_as_progress(output, expected):
    assert parse_progress(output) == expected


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_progress_from_the_runpod_path_reaches_the_job_page(settings, client, _no_enqueue):
    from tests.factories import UserFactory

    reached, release = threading.Event(), threading.Event()

    def reports_a_step_then_works(job: dict, progress_update) -> dict:
        progress_update(job, {"stage": "restore", "step": 1, "steps": 2})
        reached.set()
        release.wait(30)
        return handler(job)  # the local backend does the work

    server = LocalRunPod(api_key=API_KEY, handler=reports_a_step_then_works).start()
    settings.ENGINE = "runpod"
    settings.RUNPOD_API_KEY = API_KEY
    settings.RUNPOD_ENDPOINT_ID = "local"
    settings.RUNPOD_ENDPOINT_BASE_URL = server.base_url
    settings.JOB_POLL_INTERVAL_S = 0.05
    settings.JOB_POLL_INTERVAL_MAX_S = 0.1
    user = UserFactory()
    client.force_login(user)
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")

    def run() -> None:
        try:
            job_run(job_id=job.pk)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert reached.wait(30)
        deadline, html = time.monotonic() + 30, ""
        while time.monotonic() < deadline and "step 1 of 2" not in html:
            html = client.get(f"/jobs/{job.pk}/", headers={"HX-Request": "true"}).content.decode()
            time.sleep(0.05)
    finally:
        release.set()
        worker.join(60)
        server.stop()
    assert "Restoring… step 1 of 2" in html
    assert 'max="2" value="1"' in html
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
