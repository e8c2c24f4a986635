"""Reading and deleting photos through the API, and the upload and photo pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from photos.models import Photo, PhotoStatus
from photos.services import photo_preprocess, photo_upload
from tests.photos import images

pytestmark = pytest.mark.django_db


def _ready_photo(user) -> Photo:
    upload = SimpleUploadedFile("p.jpg", images.jpeg(), content_type="image/jpeg")
    return photo_preprocess(photo_id=photo_upload(user=user, file=upload, size=upload.size).pk)


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_photo_json_has_signed_urls_that_serve_the_images(signed_in_client, user):
    photo = _ready_photo(user)
    body = signed_in_client.get(f"/api/v1/photos/{photo.pk}").json()
    assert body["status"] == "ready" and (body["width"], body["height"]) == (640, 480)
    assert body["is_grayscale"] is False and body["error"] == ""
    assert set(body) >= {"id", "status", "width", "height", "is_grayscale", "quad", "error", "thumbnail_url",
                         "image_url"}  # fmt: skip
    for key in ("image_url", "thumbnail_url"):
        assert "/media/s/" in body[key]
        response = Client().get(body[key])  # a signed URL works on its own, like an <img> src
        assert response.status_code == 200 and _body(response)[:3] == b"\xff\xd8\xff"


def test_photo_list_is_paginated_newest_first_and_only_mine(signed_in_client, user, other_user):
    mine = [_ready_photo(user).pk for _ in range(3)]
    _ready_photo(other_user)
    body = signed_in_client.get("/api/v1/photos?page=1").json()
    assert body["count"] == 3
    assert [item["id"] for item in body["items"]] == mine[::-1]


def test_delete_removes_the_row_and_every_file(
    signed_in_client, user, _isolated_media: Path, django_capture_on_commit_callbacks
):
    photo = _ready_photo(user)
    assert len([p for p in _isolated_media.rglob("*") if p.is_file()]) == 2
    with django_capture_on_commit_callbacks(execute=True):  # files go once the delete commits
        response = signed_in_client.delete(f"/api/v1/photos/{photo.pk}")
    assert response.status_code == 204
    assert not Photo.objects.filter(pk=photo.pk).exists()
    assert [p for p in _isolated_media.rglob("*") if p.is_file()] == []
    assert signed_in_client.get(f"/api/v1/photos/{photo.pk}").status_code == 404


def test_the_api_needs_a_signed_in_person(client):
    upload = SimpleUploadedFile("p.jpg", images.jpeg(), content_type="image/jpeg")
    assert client.post("/api/v1/photos", {"file": upload}).status_code == 401
    assert client.get("/api/v1/photos").status_code == 401
    assert Photo.objects.count() == 0


def test_the_upload_page_takes_a_file_and_shows_the_photo(signed_in_client):
    assert signed_in_client.get("/photos/new/").status_code == 200
    upload = SimpleUploadedFile("scan.png", images.encode(images.photo(), "PNG"), content_type="image/png")
    response = signed_in_client.post("/photos/new/", {"file": upload, "source": "drop"})
    photo = Photo.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/photos/{photo.pk}/"
    assert photo.source == "drop"
    photo_preprocess(photo_id=photo.pk)
    page = signed_in_client.get(f"/photos/{photo.pk}/").content.decode()
    assert "/media/s/" in page and "640×480" in page


def test_the_upload_page_says_what_is_wrong_with_a_bad_file(signed_in_client, _isolated_media: Path):
    upload = SimpleUploadedFile("photo.jpg", b"%PDF-1.4 renamed", content_type="image/jpeg")
    response = signed_in_client.post("/photos/new/", {"file": upload})
    assert response.status_code == 415
    assert "upload a JPEG, PNG, HEIC or WebP image" in response.content.decode()
    assert Photo.objects.count() == 0 and list(_isolated_media.rglob("*")) == []


def test_the_upload_page_is_rate_limited_with_the_api(signed_in_client, settings):
    settings.PHOTO_UPLOAD_RATE = "2/h"
    upload = lambda: SimpleUploadedFile("p.jpg", images.jpeg(), content_type="image/jpeg")  # noqa: E731
    assert signed_in_client.post("/photos/new/", {"file": upload()}).status_code == 302
    assert signed_in_client.post("/api/v1/photos", {"file": upload()}).status_code == 201
    page = signed_in_client.post("/photos/new/", {"file": upload()})
    assert page.status_code == 429
    assert "please wait a little and try again" in page.content.decode()
    assert signed_in_client.post("/api/v1/photos", {"file": upload()}).status_code == 429
    assert Photo.objects.count() == 2


def test_a_rejected_photo_page_shows_the_reason(signed_in_client, user):
    photo = Photo.objects.create(
        owner=user, status=PhotoStatus.REJECTED, error="We couldn't read this image.", upload_completed=True
    )
    page = signed_in_client.get(f"/photos/{photo.pk}/")
    assert "We couldn&#x27;t read this image." in page.content.decode()


def test_another_persons_photo_page_is_404(signed_in_client, other_user):
    photo = _ready_photo(other_user)
    assert signed_in_client.get(f"/photos/{photo.pk}/").status_code == 404
    assert signed_in_client.post(f"/photos/{photo.pk}/delete/").status_code == 404
    assert Photo.objects.filter(pk=photo.pk).exists()
