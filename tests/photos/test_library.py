"""The library reaches every result of a photo, each with its own thumbnail and its title."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from photos.models import Photo
from processing.models import JobStatus
from tests.photos import images
from tests.processing.test_job_words import make_job

pytestmark = pytest.mark.django_db


def _photo_with_results(user, count: int) -> tuple[Photo, list]:
    photo = Photo.objects.create(
        owner=user, status="ready", upload_completed=True, original_name="grandma.jpg"
    )
    jobs = []
    now = timezone.now()
    for i in range(count):
        thumb = default_storage.save(f"results/{user.pk}/t{i}.jpg", ContentFile(images.jpeg()))
        jobs.append(
            make_job(
                user,
                photo=photo,
                kind=("restore", "colourize", "restore_colourize")[i % 3],
                result_thumbnail=thumb,
                queued_at=now - timedelta(minutes=count - i),
            )
        )
    return photo, jobs


def test_the_library_shows_each_result_with_its_own_thumbnail_and_links_to_all(signed_in_client, user):
    # given a photo with five results
    photo, jobs = _photo_with_results(user, 5)
    # when the library is shown
    response = signed_in_client.get("/photos/")
    html = response.content.decode()
    # then the newest three are on the card, each with its own thumbnail and title in words
    item = response.context["items"][0]
    shown = [r["job"].pk for r in item["results"]]
    assert shown == [j.pk for j in reversed(jobs)][:3]
    thumbs = [r["thumb"] for r in item["results"]]
    assert len(set(thumbs)) == 3 and all(t and t in html for t in thumbs)
    for job in jobs[-3:]:
        assert f'href="/jobs/{job.pk}/"' in html and job.title in html
    assert "Restore of photo" not in html
    # and the card links to the photo's page, which lists all five with their thumbnails
    assert f'href="/photos/{photo.pk}/#results">All 5 results</a>' in html
    detail = signed_in_client.get(f"/photos/{photo.pk}/")
    detail_html = detail.content.decode()
    assert [r["job"].pk for r in detail.context["results"]] == [j.pk for j in reversed(jobs)]
    for result in detail.context["results"]:
        assert f'href="/jobs/{result["job"].pk}/"' in detail_html
        assert result["thumb"] in detail_html
        assert signed_in_client.get(result["thumb"]).status_code == 200


def test_a_photo_with_few_results_needs_no_all_results_link(signed_in_client, user):
    _photo_with_results(user, 2)
    html = signed_in_client.get("/photos/").content.decode()
    assert "results</a>" not in html


def test_a_result_still_running_shows_its_status_and_a_placeholder(signed_in_client, user):
    photo = Photo.objects.create(owner=user, status="ready", upload_completed=True)
    job = make_job(user, photo=photo, status=JobStatus.RUNNING)
    html = signed_in_client.get("/photos/").content.decode()
    assert job.title in html and "Running" in html
