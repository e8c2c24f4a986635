"""Photos queued offline belong to the library their page was for: the server never stores one
in the library of whoever is signed in on the device by the time it is sent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from photos.handoff import handoff_start
from photos.models import Photo
from photos.selectors import upload_owner_tag
from tests.photos import images

pytestmark = pytest.mark.django_db


def _upload(client: Client, **data: str):
    upload = SimpleUploadedFile("p.jpg", images.jpeg(), content_type="image/jpeg")
    return client.post("/api/v1/photos", {"file": upload, **data})


def _page_owner(html: str) -> str:
    return re.search(r'data-queue-owner="([^"]+)"', html).group(1)


def _stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()]


def test_the_upload_page_carries_an_opaque_owner_tag_not_the_email(signed_in_client, user):
    html = signed_in_client.get("/photos/new/").content.decode()
    tag = _page_owner(html)
    assert tag == upload_owner_tag(user_id=user.pk)
    assert user.email not in tag and str(user.pk) != tag


def test_a_photo_queued_for_another_account_is_refused_with_409_and_leaves_nothing(
    signed_in_client, user, other_user, _isolated_media
):
    # given a photo queued on this device while the other account's page was open
    queued_for = upload_owner_tag(user_id=other_user.pk)
    # when it is sent while this account is signed in
    response = _upload(signed_in_client, queued_for=queued_for)
    # then it is not added to this library, and nothing is stored
    assert response.status_code == 409
    assert response.json()["code"] == "queued_for_another_account"
    assert "another account" in response.json()["message"]
    assert Photo.objects.count() == 0
    assert _stored_files(_isolated_media) == []


def test_a_photo_queued_for_this_account_is_accepted(signed_in_client, user):
    response = _upload(signed_in_client, queued_for=upload_owner_tag(user_id=user.pk))
    assert response.status_code == 201
    assert Photo.objects.get().owner == user


def test_the_no_script_form_refuses_another_accounts_photo_too(signed_in_client, other_user):
    upload = SimpleUploadedFile("p.jpg", images.jpeg(), content_type="image/jpeg")
    response = signed_in_client.post(
        "/photos/new/", {"file": upload, "queued_for": upload_owner_tag(user_id=other_user.pk)}
    )
    assert response.status_code == 409
    assert "another account" in response.content.decode()
    assert Photo.objects.count() == 0


def test_a_handoff_phones_queue_belongs_to_the_desktops_library(user, other_user):
    # given a phone that opened the desktop user's QR link
    _, token = handoff_start(user=user)
    phone = Client()
    tag = _page_owner(phone.get(f"/h/{token}/").content.decode())
    # then its page is for the desktop user's library, and such photos go there
    assert tag == upload_owner_tag(user_id=user.pk)
    assert _upload(phone, queued_for=tag).status_code == 201
    assert Photo.objects.get().owner == user
    # and a photo queued on the phone for someone else's library does not
    assert _upload(phone, queued_for=upload_owner_tag(user_id=other_user.pk)).status_code == 409
    assert Photo.objects.count() == 1
