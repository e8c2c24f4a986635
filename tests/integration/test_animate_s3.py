"""Animation on the production path with S3 (SeaweedFS over HTTP): the server gives the RunPod
worker presigned PUT/GET URLs for the MP4 (a real 5 s 720p video is too large for RunPod's
payload as base64), the worker uploads it, the server reads it back, stores the result, poster
and thumbnail, and deletes the worker's copy."""

from __future__ import annotations

import pytest

from credits.services import credits_grant
from processing import services
from processing.engines.video import decode_mp4
from processing.models import JobStatus
from processing.runpod_local import LocalRunPod
from processing.services import job_create, job_run
from tests.processing.conftest import API_KEY
from tests.processing.test_jobs import ready_photo

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_worker_uploads_the_video_by_presigned_url_and_the_server_keeps_only_its_own_copy(
    user, s3_storage, settings, monkeypatch
):
    settings.VIDEO_FRAMES = 9
    settings.JOB_POLL_INTERVAL_S = 0.05
    settings.JOB_POLL_INTERVAL_MAX_S = 0.2
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: None)
    credits_grant(user=user, amount=20, key="s3-animate", reason="test")
    photo = ready_photo(user)
    server = LocalRunPod(api_key=API_KEY).start()  # the worker's local backend: the living photo
    settings.ENGINE, settings.RUNPOD_API_KEY, settings.RUNPOD_ENDPOINT_ID = "runpod", API_KEY, "local"
    settings.RUNPOD_ENDPOINT_BASE_URL = server.base_url
    try:
        job = job_create(user=user, kind="animate", photo_id=photo.pk, options={"preset": "push_in"})
        job_run(job_id=job.pk)
        sent = next(iter(server.jobs.values())).input
    finally:
        server.stop()
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert sent["result_put_url"].startswith(s3_storage.endpoint) and sent["result_get_url"]
    assert "image_b64" in sent or "image_url" in sent
    objects = s3_storage.objects()
    assert f"results/{user.pk}/{job.pk}-engine.mp4" not in objects  # read, then deleted
    for name in job.result_files:
        assert name in objects, name
    body = s3_storage.client().get_object(Bucket=settings.AWS_STORAGE_BUCKET_NAME, Key=job.result.name)
    assert body["ContentType"] == "video/mp4"
    assert len(decode_mp4(body["Body"].read()).frames) == 9
