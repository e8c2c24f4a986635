"""One whole job on the real GPU worker code: created through the API, run by a real Celery
worker over the runpod SDK against the local RunPod-compatible server, whose handler runs the
tiny Qwen-Image-Edit pipeline on CPU; progress on the job page while it runs, the outcome on
the result page after.

The tiny model's weights are random, so its picture never lines up with the photo: the
product retries once (a failed quality check) and then fails the job with exactly one refund.
"""

from __future__ import annotations

import threading
import time

import pytest

from credits.models import CreditTransaction
from credits.selectors import credit_balance
from credits.services import credits_grant
from processing.models import Job
from processing.runpod_local import LocalRunPod
from processing.runpod_worker.handler import handler
from tests.conftest import start_worker, stop_worker
from tests.factories import UserFactory
from tests.integration.test_jobs_worker import API_KEY, _runpod_env, all_final, ready_photo, wait_for
from tests.processing.tiny_qwen import TEST_STEPS

pytestmark = [pytest.mark.integration, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_job_from_the_api_runs_the_pipeline_shows_progress_and_ends_on_the_result_page(
    _redis_clean, client, settings, qwen_backend
):
    reached, release = threading.Event(), threading.Event()

    def first_job_pauses_at_step_two(job: dict, progress_update) -> dict:
        def update(job: dict, data: dict) -> None:
            progress_update(job, data)
            if data["step"] == 2 and not reached.is_set():
                reached.set()
                release.wait(60)

        return handler(job, backend=qwen_backend, progress_update=update)

    server = LocalRunPod(api_key=API_KEY, handler=first_job_pauses_at_step_two).start()
    settings.ENGINE = "runpod"  # jobs record their engine when created
    user = UserFactory()
    credits_grant(user=user, amount=10, key="setup", reason="setup")
    balance = credit_balance(user=user)
    photo = ready_photo(user)
    client.force_login(user)
    proc = start_worker(extra_env=_runpod_env(server))
    try:
        response = client.post(
            "/api/v1/jobs", {"photo_id": photo.pk, "kind": "restore"}, content_type="application/json"
        )
        assert response.status_code == 202, response.content
        job = Job.objects.get(pk=response.json()["id"])
        assert reached.wait(120), "the worker never reached step 2"
        deadline, live = time.monotonic() + 60, ""
        while time.monotonic() < deadline and "step 2 of" not in live:
            live = client.get(f"/jobs/{job.pk}/", headers={"HX-Request": "true"}).content.decode()
            time.sleep(0.2)
        release.set()
        wait_for(lambda: all_final(job), timeout=120)
    finally:
        release.set()
        log = stop_worker(proc)
        server.stop()

    assert f"Restoring… step 2 of {TEST_STEPS}" in live
    assert f'max="{TEST_STEPS}" value="2"' in live
    body = client.get(f"/api/v1/jobs/{job.pk}").json()
    assert body["status"] == "failed", log[-3000:]
    assert body["error_code"] == "result_not_aligned"
    assert server.stats()["submissions"] == 2  # the first try, then one quality retry
    assert CreditTransaction.objects.filter(job_id=job.pk, kind="refund").count() == 1
    assert credit_balance(user=user) == balance
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "We couldn&#x27;t finish this one" in page or "We couldn't finish this one" in page
    assert "Your credits were refunded." in page
    assert "<progress" not in page


def test_a_bring_together_job_from_the_api_runs_the_multi_image_pipeline_to_a_new_picture(
    _redis_clean, client, settings, qwen_backend
):
    """Two photos through the API, a real Celery worker, the runpod SDK, the local server and
    the tiny pipeline given both pictures. Photos without faces: the random model's noise is a
    new picture (not blank, not a copy, lined up with nothing) with no faces asked of it."""
    from skimage import data

    from processing.engines.codec import resize_to
    from tests.processing.test_together import upload

    pictures: list[int] = []

    def counting(job: dict, progress_update) -> dict:
        pictures.append(1 + len(job["input"].get("extra_images_b64", [])))
        return handler(job, backend=qwen_backend, progress_update=progress_update)

    server = LocalRunPod(api_key=API_KEY, handler=counting).start()
    settings.ENGINE = "runpod"
    user = UserFactory()
    credits_grant(user=user, amount=10, key="setup", reason="setup")
    balance = credit_balance(user=user)
    first = upload(user, resize_to(data.coffee(), (600, 400)))
    second = upload(user, data.camera())
    client.force_login(user)
    proc = start_worker(extra_env=_runpod_env(server))
    try:
        response = client.post(
            "/api/v1/jobs",
            {"kind": "bring_together", "photo_ids": [first.pk, second.pk], "setting": "garden"},
            content_type="application/json",
        )
        assert response.status_code == 202, response.content
        job = Job.objects.get(pk=response.json()["id"])
        wait_for(lambda: all_final(job), timeout=180)
    finally:
        log = stop_worker(proc)
        server.stop()

    body = client.get(f"/api/v1/jobs/{job.pk}").json()
    assert body["status"] == "succeeded", (body, log[-3000:])
    assert pictures == [2]
    assert [i["photo_id"] for i in body["inputs"]] == [first.pk, second.pk]
    assert body["result_url"] and body["result_width"] > body["result_height"]
    assert credit_balance(user=user) == balance - 6
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'id="job-result"' in page and page.count('alt="Picture ') == 2
