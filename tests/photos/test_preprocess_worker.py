"""Preprocessing on a real Celery worker (Redis + the test database), routed by the owner's tier."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from photos.models import Photo, PhotoStatus
from tests.conftest import start_worker, stop_worker
from tests.photos import images

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wait_for(photo_id: int, statuses: set[str], limit_s: float = 60) -> Photo:
    """Wait (not a timed assertion: the limit only stops a hung test) for a final status."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        photo = Photo.objects.get(pk=photo_id)
        if photo.status in statuses:
            return photo
        time.sleep(0.2)
    raise AssertionError(f"photo {photo_id} still {Photo.objects.get(pk=photo_id).status}")


def test_an_upload_is_prepared_by_a_worker_on_the_free_tiers_queue(signed_in_client, _redis_clean):
    # given only a worker for the standard queue (where free accounts' work goes)
    worker = start_worker(queues="standard", name="photos-standard")
    try:
        # when a free account uploads a photo taken with the phone turned
        good = signed_in_client.post(
            "/api/v1/photos", {"file": SimpleUploadedFile("a.jpg", images.jpeg_with_orientation(6))}
        )
        assert good.status_code == 201
        # then the worker prepares it: upright, without the original
        photo = _wait_for(good.json()["id"], {PhotoStatus.READY, PhotoStatus.REJECTED})
    finally:
        log = stop_worker(worker)
    assert photo.status == PhotoStatus.READY, log[-3000:]
    assert (photo.width, photo.height) == (480, 640)  # orientation 6 on a 640×480 image
    assert not photo.original
    body = signed_in_client.get(f"/api/v1/photos/{photo.pk}").json()
    assert body["status"] == "ready" and body["image_url"] and body["thumbnail_url"]
