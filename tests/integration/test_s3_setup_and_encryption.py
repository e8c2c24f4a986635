"""Encryption at rest and the bucket's set-up, against SeaweedFS over HTTP.

SeaweedFS stores an object encrypted (SSE-S3) when the request asks for it and reports it on
HeadObject, so "encrypted at rest" is checked on the stored objects themselves. It has no
KMS: SSE-KMS is checked by the request parameters and the presigned POST policy only.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from photos.models import Photo
from photos.s3 import CORS_RULE_ID, PrivateS3Storage
from photos.services import photo_preprocess
from tests.photos import images
from tests.s3 import BUCKET

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _sse(s3, key: str) -> str | None:
    return s3.client().head_object(Bucket=BUCKET, Key=key).get("ServerSideEncryption")


def _presign(client) -> dict:
    body = {"content_type": "image/jpeg", "name": "print.jpg"}
    response = client.post("/api/v1/photos/presign", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def test_every_object_django_writes_is_encrypted_at_rest(signed_in_client, s3_storage):
    # given no bucket default encryption: an object written without asking is stored in clear
    s3_storage.client().put_object(Bucket=BUCKET, Key="plain", Body=b"x")
    assert _sse(s3_storage, "plain") is None
    s3_storage.client().delete_object(Bucket=BUCKET, Key="plain")
    # when a photo is uploaded through Django and prepared (original, then image + thumbnail)
    upload = SimpleUploadedFile("p.jpg", images.jpeg(), content_type="image/jpeg")
    photo_id = signed_in_client.post("/api/v1/photos", {"file": upload}).json()["id"]
    original = Photo.objects.get(pk=photo_id).original.name
    assert _sse(s3_storage, original) == "AES256"
    photo_preprocess(photo_id=photo_id)
    # and any other file goes through the same storage (results, exports, health probes)
    other = default_storage.save("results/1/r.jpg", ContentFile(b"\xff\xd8\xff result"))
    # then every stored object says it is encrypted
    keys = s3_storage.objects()
    assert len(keys) == 3
    assert {key: _sse(s3_storage, key) for key in keys} == dict.fromkeys(keys, "AES256")
    assert other in keys


def test_a_direct_upload_is_encrypted_and_its_policy_requires_encryption(signed_in_client, s3_storage):
    body = _presign(signed_in_client)
    upload, photo_id = body["upload"], body["photo"]["id"]
    fields = upload["fields"]
    assert fields["x-amz-server-side-encryption"] == "AES256"
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"x-amz-server-side-encryption": "AES256"} in policy["conditions"]

    # A client that drops the field, or asks for something else, is refused by the store.
    dropped = {k: v for k, v in fields.items() if k != "x-amz-server-side-encryption"}
    changed = {**fields, "x-amz-server-side-encryption": "aws:kms"}
    for form in (dropped, changed):
        sent = requests.post(upload["url"], data=form, files={"file": ("p.jpg", images.jpeg())}, timeout=30)
        assert sent.status_code == 403 and "AccessDenied" in sent.text
        assert s3_storage.objects() == []

    sent = requests.post(upload["url"], data=fields, files={"file": ("p.jpg", images.jpeg())}, timeout=30)
    assert sent.status_code == 204
    assert sent.headers["x-amz-server-side-encryption"] == "AES256"
    assert _sse(s3_storage, fields["key"]) == "AES256"
    assert signed_in_client.post(f"/api/v1/photos/{photo_id}/complete").status_code == 200


def test_with_a_kms_key_writes_and_the_policy_ask_for_that_key(signed_in_client, s3_storage, settings):
    settings.AWS_S3_SSE = "aws:kms"
    settings.AWS_S3_SSE_KMS_KEY_ID = "arn:aws:kms:eu-west-1:111122223333:key/rekindle-media"
    # Writes through Django: the parameters django-storages sends with every PutObject/upload.
    params = PrivateS3Storage().get_object_parameters("originals/1/a.jpg")
    assert params["ServerSideEncryption"] == "aws:kms"
    assert params["SSEKMSKeyId"] == settings.AWS_S3_SSE_KMS_KEY_ID
    # Browser writes: fields and policy conditions name the algorithm and the key.
    fields = _presign(signed_in_client)["upload"]["fields"]
    assert fields["x-amz-server-side-encryption"] == "aws:kms"
    assert fields["x-amz-server-side-encryption-aws-kms-key-id"] == settings.AWS_S3_SSE_KMS_KEY_ID
    conditions = json.loads(base64.b64decode(fields["policy"]))["conditions"]
    assert {"x-amz-server-side-encryption": "aws:kms"} in conditions
    assert {"x-amz-server-side-encryption-aws-kms-key-id": settings.AWS_S3_SSE_KMS_KEY_ID} in conditions


def test_abandon_removes_an_unfinished_direct_upload_and_keeps_finished_photos(signed_in_client, s3_storage):
    body = _presign(signed_in_client)
    upload, photo_id = body["upload"], body["photo"]["id"]
    requests.post(upload["url"], data=upload["fields"], files={"file": ("p.jpg", images.jpeg())}, timeout=30)
    assert signed_in_client.post(f"/api/v1/photos/{photo_id}/abandon").status_code == 204
    assert Photo.objects.count() == 0 and s3_storage.objects() == []

    body = _presign(signed_in_client)
    upload, photo_id = body["upload"], body["photo"]["id"]
    requests.post(upload["url"], data=upload["fields"], files={"file": ("p.jpg", images.jpeg())}, timeout=30)
    signed_in_client.post(f"/api/v1/photos/{photo_id}/complete")
    assert signed_in_client.post(f"/api/v1/photos/{photo_id}/abandon").status_code == 404
    assert Photo.objects.filter(pk=photo_id).exists()


def _preflight(s3, origin: str) -> requests.Response:
    return requests.options(
        f"{s3.endpoint}/{BUCKET}/originals/1/x.upload",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )


def test_s3_setup_sets_cors_and_default_encryption_and_is_idempotent(s3_storage, settings, capsys):
    # given another rule someone set on the bucket
    settings.AWS_S3_CORS_ORIGINS = ["https://rekindle.example"]
    client = s3_storage.client()
    other = {"ID": "analytics", "AllowedOrigins": ["https://stats.example"], "AllowedMethods": ["GET"]}
    client.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [other]})

    call_command("s3_setup")
    first = capsys.readouterr().out
    assert f"CORS: rule {CORS_RULE_ID} set" in first
    assert "Encryption: bucket default set to AES256" in first

    rules = {r.get("ID"): r for r in client.get_bucket_cors(Bucket=BUCKET)["CORSRules"]}
    assert set(rules) == {"analytics", CORS_RULE_ID}  # the other rule is kept
    ours = rules[CORS_RULE_ID]
    assert ours["AllowedOrigins"] == ["https://rekindle.example"]
    assert set(ours["AllowedMethods"]) == {"POST", "PUT", "GET"}
    assert ours["ExposeHeaders"] == ["ETag"]
    allowed = _preflight(s3_storage, "https://rekindle.example")
    assert allowed.headers.get("Access-Control-Allow-Origin") == "https://rekindle.example"
    assert "Access-Control-Allow-Origin" not in _preflight(s3_storage, "https://evil.example").headers
    # the bucket default now encrypts even a write that does not ask
    client.put_object(Bucket=BUCKET, Key="plain", Body=b"x")
    assert _sse(s3_storage, "plain") == "AES256"

    call_command("s3_setup")
    second = capsys.readouterr().out
    assert "already allows https://rekindle.example" in second
    assert "bucket default is already AES256" in second
    assert len(client.get_bucket_cors(Bucket=BUCKET)["CORSRules"]) == 2


def test_s3_setup_refuses_without_s3(settings):
    from django.core.management.base import CommandError

    settings.USE_S3 = False
    with pytest.raises(CommandError, match="S3 is not configured"):
        call_command("s3_setup")
