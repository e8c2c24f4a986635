"""Photos on S3 (SeaweedFS over HTTP): presigned POST, complete, presigned GETs, deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from photos.models import Photo, PhotoStatus
from photos.services import photo_cleanup_abandoned, photo_preprocess
from tests.photos import images

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _presign(client, **payload):
    body = {"content_type": "image/jpeg", "name": "print.jpg", **payload}
    return client.post("/api/v1/photos/presign", body, content_type="application/json")


def test_direct_upload_presign_post_complete_preprocess_and_presigned_reads(signed_in_client, s3_storage):
    response = _presign(signed_in_client)
    assert response.status_code == 201, response.content
    upload, photo_id = response.json()["upload"], response.json()["photo"]["id"]
    key = upload["fields"]["key"]
    assert key.startswith("originals/")  # per user, random
    sent = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("print.jpg", images.jpeg())}, timeout=30
    )
    assert sent.status_code in (200, 201, 204), sent.text

    done = signed_in_client.post(f"/api/v1/photos/{photo_id}/complete")
    assert done.status_code == 200
    photo = photo_preprocess(photo_id=photo_id)
    assert photo.status == PhotoStatus.READY
    assert key not in s3_storage.objects()  # the original is gone once prepared

    body = signed_in_client.get(f"/api/v1/photos/{photo_id}").json()
    image = requests.get(body["image_url"], timeout=10)
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
    assert "X-Amz-Expires" in body["image_url"] or "Expires" in body["image_url"]
    tampered = body["image_url"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert requests.get(tampered, timeout=10).status_code == 403
    bare = body["image_url"].split("?")[0]
    assert requests.get(bare, timeout=10).status_code == 403  # the bucket is private

    assert signed_in_client.delete(f"/api/v1/photos/{photo_id}").status_code == 204
    assert s3_storage.objects() == []


def test_s3_refuses_a_presigned_post_over_the_size_limit(signed_in_client, s3_storage, settings):
    settings.PHOTO_MAX_BYTES = 2000  # the same policy with a small limit, to keep the test quick
    upload = _presign(signed_in_client).json()["upload"]
    sent = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("big.jpg", images.jpeg())}, timeout=30
    )
    assert sent.status_code == 400
    assert "EntityTooLarge" in sent.text
    assert s3_storage.objects() == []


def test_presign_refuses_non_image_types(signed_in_client, s3_storage):
    response = _presign(signed_in_client, content_type="application/pdf")
    assert response.status_code == 415
    assert Photo.objects.count() == 0


def test_complete_refuses_a_missing_object_and_others_photos(
    signed_in_client, client, other_user, s3_storage
):
    photo_id = _presign(signed_in_client).json()["photo"]["id"]
    response = signed_in_client.post(f"/api/v1/photos/{photo_id}/complete")
    assert response.status_code == 409
    assert response.json()["code"] == "upload_missing"
    client.force_login(other_user)
    assert client.post(f"/api/v1/photos/{photo_id}/complete").status_code == 404


def test_complete_refuses_an_object_that_is_not_an_image_and_deletes_it(signed_in_client, s3_storage):
    # given a direct upload whose declared type is an image but whose content is a PDF
    body = _presign(signed_in_client).json()
    upload, photo_id = body["upload"], body["photo"]["id"]
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
    sent = requests.post(upload["url"], data=upload["fields"], files={"file": ("p.jpg", pdf)}, timeout=30)
    assert sent.status_code in (200, 201, 204)
    # when the browser completes it
    response = signed_in_client.post(f"/api/v1/photos/{photo_id}/complete")
    # then it is refused by content, and nothing is left in the bucket or the database
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_type"
    assert s3_storage.objects() == []
    assert Photo.objects.count() == 0


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
def test_every_format_completes_and_is_prepared_on_s3(signed_in_client, s3_storage, fmt):
    content = images.heic() if fmt == "HEIF" else images.encode(images.photo(), fmt)
    body = _presign(
        signed_in_client, content_type="image/heic" if fmt == "HEIF" else f"image/{fmt.lower()}"
    ).json()
    upload, photo_id = body["upload"], body["photo"]["id"]
    requests.post(upload["url"], data=upload["fields"], files={"file": ("p", content)}, timeout=30)
    assert signed_in_client.post(f"/api/v1/photos/{photo_id}/complete").status_code == 200
    photo = photo_preprocess(photo_id=photo_id)
    assert photo.status == PhotoStatus.READY and photo.source_format == fmt
    assert len(s3_storage.objects()) == 2  # processing-ready image + thumbnail; the original is gone


def test_multipart_upload_stores_on_s3_and_delete_removes_every_file(signed_in_client, s3_storage):
    upload = SimpleUploadedFile("p.jpg", images.jpeg(), content_type="image/jpeg")
    photo_id = signed_in_client.post("/api/v1/photos", {"file": upload}).json()["id"]
    assert len(s3_storage.objects()) == 1  # the original
    photo_preprocess(photo_id=photo_id)
    assert len(s3_storage.objects()) == 2  # processing-ready image + thumbnail
    signed_in_client.delete(f"/api/v1/photos/{photo_id}")
    assert s3_storage.objects() == []


def test_uploads_never_completed_are_cleaned_up(signed_in_client, s3_storage):
    upload = _presign(signed_in_client).json()["upload"]
    requests.post(upload["url"], data=upload["fields"], files={"file": ("p.jpg", images.jpeg())}, timeout=30)
    Photo.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert photo_cleanup_abandoned() == 1
    assert Photo.objects.count() == 0
    assert s3_storage.objects() == []


def test_presign_refuses_a_photo_queued_for_another_account(signed_in_client, s3_storage):
    response = _presign(signed_in_client, queued_for="someone-else")
    assert response.status_code == 409
    assert response.json()["code"] == "queued_for_another_account"
    assert Photo.objects.count() == 0


def test_session_presign_complete_and_abandon_need_the_pages_csrf_token(user, s3_storage):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    body = {"content_type": "image/jpeg", "name": "print.jpg"}
    refused = client.post("/api/v1/photos/presign", body, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    assert Photo.objects.count() == 0

    client.get("/photos/new/")  # the page sets the token the uploader sends
    csrf = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}
    photo_id = client.post("/api/v1/photos/presign", body, content_type="application/json", **csrf).json()[
        "photo"
    ]["id"]
    for action in ("complete", "abandon"):
        response = client.post(f"/api/v1/photos/{photo_id}/{action}")
        assert response.status_code == 403 and response.json()["code"] == "csrf_failed"
    assert client.post(f"/api/v1/photos/{photo_id}/abandon", **csrf).status_code == 204
