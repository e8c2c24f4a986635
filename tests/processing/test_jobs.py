"""Jobs: creation charges once, runs through the engine, fails with one refund, cancels."""

from __future__ import annotations

import threading
from decimal import Decimal

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from credits.models import CreditTransaction
from credits.selectors import credit_balance
from credits.services import credits_grant
from photos.models import PhotoStatus
from photos.services import photo_preprocess, photo_upload
from processing import services
from processing.engines.base import EngineResult, PermanentEngineError
from processing.models import Job, JobStatus, SpendLimit
from processing.quality import QualityCheckFailed
from processing.services import job_create, job_run, job_start, spend_limit_set
from tests.factories import UserFactory
from tests.photos import images


@pytest.fixture(autouse=True)
def _no_enqueue(monkeypatch):
    """Unit tests run jobs by calling job_run; the worker tests use the real queue."""
    sent: list[int] = []
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: sent.append(job.pk))
    return sent


def ready_photo(user):
    upload = SimpleUploadedFile("p.jpg", images.jpeg(images.photo((800, 600))), content_type="image/jpeg")
    photo = photo_upload(user=user, file=upload, size=upload.size, name="p.jpg")
    return photo_preprocess(photo_id=photo.pk)


def _refunds(job: Job) -> int:
    return CreditTransaction.objects.filter(job_id=job.pk, kind="refund").count()


@pytest.mark.django_db(transaction=True)
def test_creating_a_job_charges_the_price_and_queues_it_on_the_tier_queue(user, _no_enqueue):
    photo = ready_photo(user)
    job = job_create(user=user, photo_id=photo.pk, kind="restore")
    assert job.status == JobStatus.QUEUED
    assert job.credits_charged == 2
    assert (job.max_width, job.max_height) == (854, 480)  # free tier: 480p
    assert credit_balance(user=user) == 1
    assert _no_enqueue == [job.pk]  # sent after commit


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "code", "status"), [("sharpen", "unknown_kind", 422), ("", "kind_required", 400)]
)
def test_unknown_or_unoffered_kind_is_refused(signed_in_client, user, kind, code, status):
    photo = ready_photo(user)
    response = signed_in_client.post(
        "/api/v1/jobs", {"photo_id": photo.pk, "kind": kind}, content_type="application/json"
    )
    assert response.status_code == status
    assert response.json()["code"] == code
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_short_of_credits_is_402_with_balance_and_price_and_no_job(signed_in_client, user, settings):
    settings.ENGINE = "runpod"  # an engine that really colourizes, so the price is what refuses
    photo = ready_photo(user)
    response = signed_in_client.post(
        "/api/v1/jobs", {"photo_id": photo.pk, "kind": "restore_colourize"}, content_type="application/json"
    )
    assert response.status_code == 402
    body = response.json()
    assert body["code"] == "insufficient_credits"
    assert body["details"] == {"balance": 3, "price": 4}
    assert Job.objects.count() == 0
    assert credit_balance(user=user) == 3


@pytest.mark.django_db
def test_a_photo_that_is_not_ready_or_not_mine_is_refused(signed_in_client, user, other_user):
    mine = ready_photo(user)
    mine.status = PhotoStatus.PREPROCESSING
    mine.save()
    response = signed_in_client.post(
        "/api/v1/jobs", {"photo_id": mine.pk, "kind": "restore"}, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "photo_not_ready"
    theirs = ready_photo(other_user)
    response = signed_in_client.post(
        "/api/v1/jobs", {"photo_id": theirs.pk, "kind": "restore"}, content_type="application/json"
    )
    assert response.status_code == 404
    assert Job.objects.count() == 0
    assert credit_balance(user=user) == 3


@pytest.mark.django_db
def test_another_persons_job_is_404_everywhere(client, user, other_user):
    job = job_create(user=other_user, photo_id=ready_photo(other_user).pk, kind="restore")
    client.force_login(user)
    assert client.get(f"/api/v1/jobs/{job.pk}").status_code == 404
    assert client.post(f"/api/v1/jobs/{job.pk}/cancel").status_code == 404
    assert client.get(f"/jobs/{job.pk}/").status_code == 404
    assert client.get("/api/v1/jobs").json()["count"] == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_job_creation_charges_each_job_once_and_never_overdraws():
    user = UserFactory()
    credits_grant(user=user, amount=7, key="setup", reason="setup")  # 10 credits: room for 5 restores
    photo = ready_photo(user)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        try:
            job_create(user=user, photo_id=photo.pk, kind="restore")
            outcomes.append("ok")
        except Exception as exc:  # InsufficientCredits for the late ones
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 5
    assert outcomes.count("InsufficientCredits") == 3
    assert Job.objects.count() == 5
    assert credit_balance(user=user) == 0
    charges = CreditTransaction.objects.filter(kind="charge")
    assert sorted(charges.values_list("job_id", flat=True)) == sorted(
        Job.objects.values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_local_engine_job_succeeds_with_result_thumbnail_and_zero_cost(user, _isolated_media):
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.result and job.result_thumbnail
    assert (_isolated_media / job.result.name).exists()
    assert max(job.result_width, job.result_height) <= 854
    assert job.cost == Decimal("0") and job.gpu_seconds == 0
    assert job.cpu_seconds > 0
    assert job.started_at and job.finished_at and job.attempts == 1
    # What the engine did, in words, for the job page.
    assert len(job.notes) == 1 and job.notes[0].startswith(("The local engine", "The photo measured clean"))


@pytest.mark.django_db
def test_a_redelivered_message_for_a_finished_job_does_nothing(user):
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    job_run(job_id=job.pk)
    job.refresh_from_db()
    finished = (job.finished_at, job.result.name, job.attempts)
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.finished_at, job.result.name, job.attempts) == finished


class _Blank:
    name = "local"

    def __init__(self) -> None:
        self.calls = 0

    def run(self, request):
        self.calls += 1
        return EngineResult(image=np.zeros_like(request.image), engine="local")


@pytest.mark.django_db
def test_failed_quality_check_retries_once_then_fails_with_one_refund(user, monkeypatch):
    engine = _Blank()
    monkeypatch.setattr(services, "get_engine", lambda name: engine)
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert engine.calls == 2  # the first result, then one more try
    assert job.status == JobStatus.FAILED
    assert job.error_code == "result_blank"
    assert "refunded" in job.error_message
    assert _refunds(job) == 1
    assert credit_balance(user=user) == 3
    job_run(job_id=job.pk)  # a late redelivery changes nothing
    assert _refunds(job) == 1


@pytest.mark.django_db
def test_a_result_the_engine_could_not_line_up_is_retried_once_like_a_failed_check(user, monkeypatch):
    class Misaligned:
        name = "local"
        calls = 0

        def run(self, request):
            self.calls += 1
            raise QualityCheckFailed("The restored picture could not be lined up.", code="result_not_aligned")

    engine = Misaligned()
    monkeypatch.setattr(services, "get_engine", lambda name: engine)
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert engine.calls == 2
    assert job.status == JobStatus.FAILED and job.error_code == "result_not_aligned"
    assert _refunds(job) == 1 and credit_balance(user=user) == 3


@pytest.mark.django_db
def test_engine_output_that_is_not_an_image_fails_the_job_and_refunds(user, monkeypatch):
    class Broken:
        name = "local"

        def run(self, request):
            raise PermanentEngineError("The engine could not read this photo.", code="bad_image")

    monkeypatch.setattr(services, "get_engine", lambda name: Broken())
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "bad_image"
    assert credit_balance(user=user) == 3 and _refunds(job) == 1


@pytest.mark.django_db
def test_cancel_before_start_refunds_and_cancel_after_finish_is_refused(signed_in_client, user):
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    response = signed_in_client.post(f"/api/v1/jobs/{job.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert credit_balance(user=user) == 3
    response = signed_in_client.post(f"/api/v1/jobs/{job.pk}/cancel")
    assert response.status_code == 409
    assert response.json()["code"] == "job_finished"
    assert _refunds(job) == 1
    job_run(job_id=job.pk)  # the queued message arrives after the cancel: nothing happens
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not job.result


@pytest.mark.django_db
def test_daily_limit_pauses_a_tier_with_a_visible_reason_and_resumes_when_raised(
    signed_in_client, user, _no_enqueue
):
    spend_limit_set(group="free", daily_limit=Decimal("0"))
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    assert job_start(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert "budget" in job.waiting_reason
    assert job.waiting_reason in signed_in_client.get(f"/jobs/{job.pk}/").content.decode().replace(
        "&#x27;", "'"
    )
    assert signed_in_client.get(f"/api/v1/jobs/{job.pk}").json()["waiting_reason"] == job.waiting_reason
    _no_enqueue.clear()
    spend_limit_set(group="free", daily_limit=Decimal("50"))
    assert _no_enqueue == [job.pk]  # sent again
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert SpendLimit.objects.get(tier_group="free").daily_limit == Decimal("50")


@pytest.mark.django_db
def test_spend_alerts_email_admins_at_80_and_100_percent_once_a_day(
    user, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    spend_limit_set(group="paid", daily_limit=Decimal("10"))
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    from django.utils import timezone

    Job.objects.filter(pk=job.pk).update(tier="cherish", cost=Decimal("8.5"), finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        services.spend_check_alerts("paid")
        services.spend_check_alerts("paid")
    assert [m.subject for m in mailoutbox] == ["[Rekindle] paid tier at 80% of its daily budget"]
    Job.objects.filter(pk=job.pk).update(cost=Decimal("10"))
    with django_capture_on_commit_callbacks(execute=True):
        services.spend_check_alerts("paid")
    assert mailoutbox[-1].subject == "[Rekindle] paid tier at 100% of its daily budget"
    assert services.pause_reason("paid") is not None
    assert services.pause_reason("free") is None


@pytest.mark.django_db
def test_the_owner_is_emailed_when_a_job_is_ready_unless_switched_off(user, mailoutbox):
    credits_grant(user=user, amount=5, key="more", reason="more")
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    job_run(job_id=job.pk)
    assert [m.subject for m in mailoutbox] == ["Your restored photo is ready"]
    assert f"/jobs/{job.pk}/" in mailoutbox[0].body
    user.notify_by_email = False
    user.save()
    job_run(job_id=job_create(user=user, photo_id=job.photo_id, kind="restore").pk)
    assert len(mailoutbox) == 1


@pytest.mark.django_db
def test_a_failed_job_email_says_why_and_that_credits_came_back(
    user, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "get_engine", lambda name: _Blank())
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    with django_capture_on_commit_callbacks(execute=True):
        job_run(job_id=job.pk)
    assert [m.subject for m in mailoutbox] == ["We couldn't finish your photo"]
    assert "2 credits were returned" in mailoutbox[0].body
