"""Hand-off rules without a browser: one phone, ten minutes, uploads only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from photos.handoff import handoff_start
from photos.models import HandoffSession, Photo
from tests.photos import images

pytestmark = pytest.mark.django_db


def _upload(client: Client):
    upload = SimpleUploadedFile("p.jpg", images.jpeg(), content_type="image/jpeg")
    return client.post("/api/v1/photos", {"file": upload, "source": "gallery"})


def test_a_claimed_phone_can_upload_but_not_read_the_library(user):
    _, token = handoff_start(user=user)
    phone = Client()
    assert phone.get(f"/h/{token}/").status_code == 200
    response = _upload(phone)
    assert response.status_code == 201
    assert Photo.objects.get().source == "handoff"
    assert phone.get("/api/v1/photos").status_code == 401
    assert phone.get("/api/v1/me").status_code == 401


def test_without_opening_the_link_a_phone_cannot_upload(user):
    handoff_start(user=user)
    assert _upload(Client()).status_code == 401
    assert Photo.objects.count() == 0


def test_expired_and_reused_links_are_refused_plainly(user):
    _, token = handoff_start(user=user)
    first = Client()
    first.get(f"/h/{token}/")
    second = Client().get(f"/h/{token}/")
    assert second.status_code == 410
    assert "already used on another phone" in second.content.decode()
    HandoffSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _upload(first).status_code == 401  # the phone's upload rights end with the link
    expired = first.get(f"/h/{token}/")
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    assert Client().get("/h/not-a-token/").status_code == 404


@pytest.mark.parametrize(
    ("name", "heading"), [("Ada", "Send photos to Ada's library"), ("", "Send photos to your computer")]
)
def test_the_phone_page_never_shows_the_accounts_email(name, heading):
    from tests.factories import UserFactory

    owner = UserFactory(email="ada.lovelace@example.com", name=name)
    _, token = handoff_start(user=owner)
    html = Client().get(f"/h/{token}/").content.decode().replace("&#x27;", "'")
    assert heading in html
    assert "ada.lovelace" not in html and "example.com" not in html
