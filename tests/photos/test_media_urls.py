"""Signed media URLs for local storage: they work, expire, and refuse tampering."""

from __future__ import annotations

import pytest
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from photos.storage import MEDIA_SALT, media_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored() -> str:
    return default_storage.save("photos/1/abc.jpg", ContentFile(b"\xff\xd8\xff fake jpeg"))


def test_a_signed_url_serves_the_file_privately(client, stored):
    response = client.get(media_url(stored))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\xff\xd8\xff")
    assert response["Cache-Control"].startswith("private")


def test_a_download_url_names_the_file(client, stored):
    response = client.get(media_url(stored, download_name="rekindle-1.jpg"))
    assert 'attachment; filename="rekindle-1.jpg"' in response["Content-Disposition"]


def test_a_tampered_url_is_refused(client, stored):
    url = media_url(stored)
    token = url.rstrip("/").split("/")[-1]
    forged = signing.dumps({"n": "photos/2/other.jpg", "d": ""}, salt="wrong-salt", compress=True)
    assert (
        client.get(url.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))).status_code
        == 404
    )
    assert client.get(f"/media/s/{forged}/").status_code == 404


def test_an_expired_url_is_refused(client, stored, settings):
    url = media_url(stored)
    settings.MEDIA_URL_MAX_AGE = -1
    assert client.get(url).status_code == 404


def test_a_signed_url_cannot_escape_the_media_folder(client):
    token = signing.dumps({"n": "../../etc/passwd", "d": ""}, salt=MEDIA_SALT, compress=True)
    assert client.get(f"/media/s/{token}/").status_code == 404


def test_another_persons_photo_and_its_urls_are_404(client, user, other_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from photos.services import photo_preprocess, photo_upload
    from tests.photos import images

    upload = SimpleUploadedFile("p.jpg", images.jpeg(), content_type="image/jpeg")
    photo = photo_preprocess(photo_id=photo_upload(user=other_user, file=upload, size=upload.size).pk)
    client.force_login(user)
    assert client.get(f"/api/v1/photos/{photo.pk}").status_code == 404
    assert client.delete(f"/api/v1/photos/{photo.pk}").status_code == 404
    assert client.get(f"/photos/{photo.pk}/").status_code == 404
    assert client.get(f"/photos/{photo.pk}/crop/").status_code == 404
    assert client.post(f"/api/v1/photos/{photo.pk}/crop", {"quad": [[0, 0], [1, 0], [1, 1], [0, 1]]},
                       content_type="application/json").status_code == 404  # fmt: skip


def test_a_url_made_shorter_lived_expires_on_its_own_time(client, stored, monkeypatch, settings):
    import time

    short, ordinary = media_url(stored, max_age=60), media_url(stored)
    later = time.time() + 120
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert client.get(short).status_code == 404
    assert client.get(ordinary).status_code == 200
