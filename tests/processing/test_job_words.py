"""Jobs are named in words everywhere (title, email subject, download name), never by a global
number, and the job page carries no engine jargon."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from photos.models import Photo
from processing.models import Job, JobStatus
from processing.services import job_notify

pytestmark = pytest.mark.django_db


def make_job(
    owner, *, kind: str = "restore", status: str = JobStatus.SUCCEEDED, name: str = "p.jpg", **extra
):
    photo = extra.pop("photo", None) or Photo.objects.create(owner=owner, status="ready", original_name=name)
    job = Job.objects.create(
        owner=owner,
        photo=photo,
        kind=kind,
        credits_charged=2,
        tier="free",
        max_width=854,
        max_height=480,
        engine="local",
    )
    Job.objects.filter(pk=job.pk).update(status=status, **extra)
    job.refresh_from_db()
    return job


@pytest.mark.parametrize(
    ("kind", "status", "title"),
    [
        ("restore", JobStatus.SUCCEEDED, "Restored — 30 Nov"),
        ("colourize", JobStatus.SUCCEEDED, "Colourized — 30 Nov"),
        ("restore_colourize", JobStatus.SUCCEEDED, "Restored and colourized — 30 Nov"),
        ("restore_colourize", JobStatus.QUEUED, "Restore + colourize — 30 Nov"),
        ("restore", JobStatus.FAILED, "Restore — 30 Nov"),
    ],
)
def test_a_job_title_says_what_it_is_and_when(user, kind, status, title):
    # given a job finished (or queued) on 30 November of this year
    day = timezone.make_aware(datetime(timezone.localtime().year, 11, 30, 15, 0))
    job = make_job(
        user, kind=kind, status=status, queued_at=day, finished_at=day if status != "queued" else None
    )
    # then its title names the kind in words and the day, without the year of this year
    assert job.title == title


def test_a_job_from_another_year_names_the_year(user):
    day = timezone.make_aware(datetime(2019, 5, 3, 12, 0))
    assert make_job(user, finished_at=day).title == "Restored — 3 May 2019"


@pytest.mark.parametrize(
    ("original_name", "kind", "download"),
    [
        ("Grandma 1952.HEIC", "restore", "grandma-1952-restored.jpg"),
        ("Oma & Opa – Hochzeit.jpg", "restore_colourize", "oma-opa-hochzeit-restored-colourized.jpg"),
        ("Café.png", "colourize", "cafe-colourized.jpg"),
        ("照片.jpg", "restore", "photo-restored.jpg"),  # nothing ASCII left: a plain fallback
        ("", "restore", "photo-restored.jpg"),
        ("../../etc/passwd", "restore", "passwd-restored.jpg"),
    ],
)
def test_downloads_are_named_from_the_photo_and_the_kind(user, original_name, kind, download):
    assert make_job(user, kind=kind, name=original_name).download_name == download


def test_the_job_page_downloads_under_the_photos_name_and_has_no_jargon(signed_in_client, user, client):
    result = default_storage.save("results/1/r.jpg", ContentFile(b"\xff\xd8\xff fake"))
    job = make_job(user, name="Grandma 1952.jpg", result=result, result_width=800, result_height=480)
    page = signed_in_client.get(f"/jobs/{job.pk}/")
    html = page.content.decode()
    assert f'<h1 id="job-title" class="text-2xl font-bold mb-4">{job.title}</h1>' in html
    assert "OpenCV" not in html and "Engine" not in html and "max</p>" not in html
    assert "800 × 480 pixels" in html
    download = signed_in_client.get(page.context["download_url"])
    assert 'filename="grandma-1952-restored.jpg"' in download["Content-Disposition"]
    # the API hands out the same name
    api = signed_in_client.get(f"/api/v1/jobs/{job.pk}").json()
    assert (
        'filename="grandma-1952-restored.jpg"'
        in signed_in_client.get(api["result_url"])["Content-Disposition"]
    )


def test_the_jobs_list_names_jobs_in_words_not_by_photo_number(signed_in_client, user):
    job = make_job(user, kind="colourize")
    html = signed_in_client.get("/jobs/").content.decode()
    assert job.title in html
    assert f"of photo {job.photo_id}" not in html


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        ("restore", "Your restored photo is ready"),
        ("colourize", "Your colourized photo is ready"),
        ("restore_colourize", "Your restored and colourized photo is ready"),
    ],
)
def test_the_finished_job_email_subject_names_the_kind(user, mailoutbox, kind, subject):
    job_notify(job=make_job(user, kind=kind))
    assert [m.subject for m in mailoutbox] == [subject]


def test_the_live_job_page_updates_its_title_when_the_job_finishes(signed_in_client, user):
    job = make_job(user, status=JobStatus.RUNNING)
    assert job.title.startswith("Restore — ")
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    job.refresh_from_db()
    poll = signed_in_client.get(f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true")
    assert poll.status_code == 286
    assert f'<h1 id="job-title" hx-swap-oob="true" class="text-2xl font-bold mb-4">{job.title}</h1>' in (
        poll.content.decode()
    )
    assert job.title.startswith("Restored — ")
