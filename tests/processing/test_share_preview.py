"""Share pages carry a link-card preview (Open Graph / Twitter) whose picture works only while
the share link does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from processing.models import ShareLink
from processing.sharing import share_create, share_revoke

pytestmark = pytest.mark.django_db


def _meta(html: str, key: str) -> str:
    import re

    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', html)
    assert found, f"no {key} tag"
    return found.group(1)


def test_the_share_page_has_an_absolute_preview_picture_title_and_description(client, user, finished_job):
    link = share_create(user=user, job_id=finished_job.pk)
    html = client.get(f"/s/{link.token}/").content.decode()
    image = _meta(html, "og:image")
    assert image == f"http://testserver/s/{link.token}/preview.jpg"
    assert _meta(html, "twitter:image") == image
    assert _meta(html, "twitter:card") == "summary_large_image"
    assert _meta(html, "og:title") == "Restored with Rekindle"
    assert "before and after" in _meta(html, "og:description")
    assert _meta(html, "og:url") == f"http://testserver/s/{link.token}/"
    assert _meta(html, "og:image:width") == str(finished_job.result_width)
    # nothing about the owner or the file's name goes to the messenger
    assert user.email not in html


def test_the_preview_picture_is_the_result_through_a_short_lived_signed_url(
    client, user, finished_job, settings
):
    link = share_create(user=user, job_id=finished_job.pk)
    response = client.get(f"/s/{link.token}/preview.jpg")
    assert response.status_code == 302
    assert response["Cache-Control"] == "no-store"
    assert response["Location"].startswith("http://testserver/media/s/")
    picture = client.get(response["Location"])
    assert picture.status_code == 200
    assert picture["Content-Type"] == "image/jpeg"
    assert b"".join(picture.streaming_content) == finished_job.result.open("rb").read()
    assert client.head(f"/s/{link.token}/preview.jpg").status_code == 302  # crawlers may ask HEAD


def test_the_preview_stops_when_the_link_is_revoked_or_expired(client, user, finished_job):
    link = share_create(user=user, job_id=finished_job.pk)
    assert client.get(f"/s/{link.token}/preview.jpg").status_code == 302
    share_revoke(user=user, share_id=link.pk)
    assert client.get(f"/s/{link.token}/preview.jpg").status_code == 404

    other = share_create(user=user, job_id=finished_job.pk)
    ShareLink.objects.filter(pk=other.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(f"/s/{other.token}/preview.jpg").status_code == 404
    assert client.get("/s/not-a-real-token/preview.jpg").status_code == 404


def test_the_signed_picture_url_expires_after_its_own_short_lifetime(
    client, user, finished_job, monkeypatch, settings
):
    import time

    from django.core import signing

    settings.SHARE_PREVIEW_URL_MAX_AGE = 60
    link = share_create(user=user, job_id=finished_job.pk)
    location = client.get(f"/s/{link.token}/preview.jpg")["Location"]
    assert client.get(location).status_code == 200
    # two minutes later the preview URL is dead, though ordinary media URLs last an hour
    later = time.time() + 120
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert settings.MEDIA_URL_MAX_AGE > 120
    assert client.get(location).status_code == 404
