"""What a job page's poll (every 2 s) and an API client's poll cost and answer.

Polling is the commonest request the site serves (docs/scaling.md): it must stay a handful of
queries, keep answering correctly (status, queue position, progress), and only for the owner.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from photos.models import Photo
from processing.models import Job, JobStatus
from processing.selectors import job_queue_position
from processing.services import job_progress_key
from processing.sharing import share_create

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def make_job(
    owner, *, status: str = JobStatus.QUEUED, tier: str = "free", minutes_ago: int = 0, **extra
) -> Job:
    photo = Photo.objects.create(owner=owner, status="ready", original_name="grandma.jpg")
    job = Job.objects.create(
        owner=owner,
        photo=photo,
        kind="restore",
        credits_charged=2,
        tier=tier,
        max_width=854,
        max_height=480,
        engine="local",
    )
    Job.objects.filter(pk=job.pk).update(
        status=status, queued_at=timezone.now() - timedelta(minutes=minutes_ago), **extra
    )
    job.refresh_from_db()
    return job


def test_polling_a_queued_job_costs_three_queries_and_shows_its_place(
    signed_in_client, user, other_user, django_assert_max_num_queries
):
    # given two paid jobs and an earlier free job ahead of a free job, and a later free job behind it
    make_job(other_user, tier="cherish", minutes_ago=1)
    make_job(other_user, tier="remember", minutes_ago=0)
    make_job(other_user, minutes_ago=10)
    job = make_job(user, minutes_ago=5)
    make_job(other_user, minutes_ago=2)
    signed_in_client.get(f"/jobs/{job.pk}/", **HTMX)  # the session is cached from here on
    # when the page polls; then the user, the job and one count, nothing else
    with django_assert_max_num_queries(3):
        response = signed_in_client.get(f"/jobs/{job.pk}/", **HTMX)
    assert response.status_code == 200
    assert "Position in the queue: <strong>4</strong>" in response.content.decode()


def test_polling_a_running_job_reads_its_progress_from_redis_with_two_queries(
    signed_in_client, user, django_assert_max_num_queries
):
    job = make_job(user, status=JobStatus.RUNNING, started_at=timezone.now())
    cache.set(job_progress_key(job.pk), (12, 40), 60)
    signed_in_client.get(f"/jobs/{job.pk}/", **HTMX)
    with django_assert_max_num_queries(2):
        response = signed_in_client.get(f"/jobs/{job.pk}/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Restoring… step 12 of 40" in html
    assert "Cancel" in html


def test_the_api_poll_of_a_queued_job_costs_three_queries(
    signed_in_client, user, django_assert_max_num_queries
):
    make_job(user, tier="cherish", minutes_ago=1)
    job = make_job(user, minutes_ago=0)
    signed_in_client.get(f"/api/v1/jobs/{job.pk}")
    # The user, the job (its one input read in the same query), the queue count.
    with django_assert_max_num_queries(3):
        body = signed_in_client.get(f"/api/v1/jobs/{job.pk}").json()
    assert body["status"] == "queued"
    assert body["queue_position"] == 2
    assert [row["photo_id"] for row in body["inputs"]] == [job.photo_id]


def test_a_finished_job_still_shows_its_download_and_share_links_and_stops_the_polling(
    signed_in_client, user
):
    job = make_job(
        user,
        status=JobStatus.SUCCEEDED,
        finished_at=timezone.now(),
        result="results/r.jpg",
        result_width=800,
        result_height=480,
    )
    link = share_create(user=user, job_id=job.pk)
    response = signed_in_client.get(f"/jobs/{job.pk}/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 286  # htmx stops polling
    assert "Download" in html and response.context["download_url"] in html
    assert link.token in html
    assert "800 × 480 pixels" in html
    api = signed_in_client.get(f"/api/v1/jobs/{job.pk}").json()
    assert api["queue_position"] is None and api["result_url"]


def test_the_api_status_poll_answers_state_position_and_progress_in_three_queries(
    signed_in_client, user, django_assert_max_num_queries
):
    make_job(user, tier="cherish", minutes_ago=1)
    queued = make_job(user, minutes_ago=0)
    running = make_job(user, status=JobStatus.RUNNING)
    cache.set(job_progress_key(running.pk), (12, 40), 60)
    signed_in_client.get(f"/api/v1/jobs/{queued.pk}/status")
    with django_assert_max_num_queries(3):
        body = signed_in_client.get(f"/api/v1/jobs/{queued.pk}/status").json()
    assert body == {
        "id": queued.pk,
        "status": "queued",
        "queue_position": 2,
        "waiting_reason": "",
        "progress": None,
        "error_code": "",
        "error_message": "",
    }
    body = signed_in_client.get(f"/api/v1/jobs/{running.pk}/status").json()
    assert (body["status"], body["queue_position"], body["progress"]) == (
        "running",
        None,
        {"step": 12, "steps": 40},
    )


@pytest.mark.parametrize("path", ["/jobs/{id}/", "/api/v1/jobs/{id}", "/api/v1/jobs/{id}/status"])
def test_someone_elses_job_is_not_found_when_polled(signed_in_client, other_user, path):
    job = make_job(other_user)
    response = signed_in_client.get(path.format(id=job.pk), **HTMX)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("tier", "minutes_ago", "position"),
    [
        ("free", 5, 4),  # behind both paid jobs and the free job queued 10 minutes ago
        ("cherish", 5, 2),  # behind the paid job queued 6 minutes ago only
        ("cherish", 7, 1),  # first of all
    ],
)
def test_queue_position_puts_paid_work_first(user, other_user, tier, minutes_ago, position):
    make_job(other_user, tier="remember", minutes_ago=6)
    make_job(other_user, tier="forever", minutes_ago=1)
    make_job(other_user, minutes_ago=10)
    make_job(other_user, minutes_ago=2)
    make_job(other_user, status=JobStatus.RUNNING, tier="cherish", minutes_ago=30)
    job = make_job(user, tier=tier, minutes_ago=minutes_ago)
    assert job_queue_position(job=job) == position


def test_a_session_survives_a_redis_flush(signed_in_client, user):
    # Sessions are cached in Redis but written to the database: a flushed cache signs nobody out.
    cache.clear()
    assert signed_in_client.get("/api/v1/me").json()["id"] == user.pk


def test_a_session_is_read_from_the_cache_not_the_database(user, django_assert_num_queries):
    client = Client()
    client.force_login(user)
    client.get("/api/v1/me")
    with django_assert_num_queries(3):  # the user, their balance and their plan: no session query
        client.get("/api/v1/me")
