"""Moderation: reports from the share page and the library, and what each staff action does.

Removing content stops the share link at once and deletes the files; suspending an account
stops sign-in (sessions and API tokens included) and new jobs, and cancels open jobs with one
refund each; every action is recorded with who and when.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.services import api_token_create
from credits.models import CreditTransaction
from credits.selectors import credit_balance
from photos.models import Photo
from processing.models import Job, JobStatus, ModerationAction, Report, ReportStatus, ShareLink
from processing.moderation import (
    AlreadyHandled,
    report_dismiss,
    report_remove_content,
    report_share,
    user_suspend,
    user_unsuspend,
)
from processing.services import AccountSuspended, job_create
from processing.sharing import share_create
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.processing.test_jobs import ready_photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def shared(user, finished_job):
    return share_create(user=user, job_id=finished_job.pk)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _refunds(user) -> int:
    return CreditTransaction.objects.filter(user=user, kind="refund").count()


# --- reports ------------------------------------------------------------------------------


def test_a_report_from_the_share_page_opens_a_report_and_tells_the_admins(
    client, shared, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/s/{shared.token}/", {"reason": "offensive", "note": "  not  ok  "})
    assert response.status_code == 200
    assert "Thank you" in response.content.decode()
    report = Report.objects.get()
    assert (report.share_link, report.job, report.photo) == (shared, shared.job, shared.job.photo)
    assert report.owner == shared.job.owner and report.reporter is None
    assert (report.status, report.reason, report.note) == (ReportStatus.OPEN, "offensive", "not ok")
    assert mailoutbox[-1].to == ["ops@example.com"]
    assert f"/admin/processing/report/{report.pk}/change/" in mailoutbox[-1].body


def test_a_signed_in_reporter_is_recorded_and_reporting_twice_adds_nothing(client, other_user, shared):
    client.force_login(other_user)
    for _ in range(2):
        assert client.post(f"/s/{shared.token}/", {"reason": "not_mine"}).status_code == 200
    assert Report.objects.get().reporter == other_user


def test_a_report_without_a_known_reason_is_refused_and_nothing_is_recorded(client, shared):
    response = client.post(f"/s/{shared.token}/", {"reason": "boring", "note": "x"})
    assert response.status_code == 400
    assert "Choose why you are reporting it." in response.content.decode()
    assert not Report.objects.exists()


def test_reports_are_rate_limited_per_address(client, shared, settings):
    settings.REPORT_RATE = "2/h"
    assert client.post(f"/s/{shared.token}/", {"reason": "other"}).status_code == 200
    assert client.post(f"/s/{shared.token}/", {"reason": "other"}).status_code == 200
    third = client.post(f"/s/{shared.token}/", {"reason": "other"})
    assert third.status_code == 429
    assert "many reports" in third.content.decode()
    assert Report.objects.count() == 2


def test_a_person_reports_a_photo_from_their_library_but_not_someone_elses(client, user, other_user):
    photo = ready_photo(user)
    client.force_login(user)
    page = client.get(f"/photos/{photo.pk}/").content.decode()
    assert "Report a problem with this photo" in page
    response = client.post(f"/photos/{photo.pk}/report/", {"reason": "not_mine", "note": "a stranger's"})
    assert response.status_code == 302
    report = Report.objects.get()
    assert (report.photo, report.owner, report.reporter, report.job) == (photo, user, user, None)

    client.force_login(other_user)
    assert client.post(f"/photos/{photo.pk}/report/", {"reason": "other"}).status_code == 404
    assert Report.objects.count() == 1


# --- remove content -------------------------------------------------------------------------


def test_removing_content_stops_the_share_link_at_once_and_deletes_every_file(
    staff_client, staff, client, shared, settings, django_capture_on_commit_callbacks
):
    media = Path(settings.MEDIA_ROOT)
    assert _files(media)  # the photo, its thumbnail, the result and its thumbnail
    report = report_share(token=shared.token, reason="illegal")
    photo_id, job_id = shared.job.photo_id, shared.job_id

    confirm = staff_client.get(f"/admin/processing/report/{report.pk}/remove/").content.decode()
    assert f"This deletes photo {photo_id} with its 1 job(s) and 4 stored file(s)." in confirm
    assert "1 live share link(s) stop working at once" in confirm
    assert Photo.objects.filter(pk=photo_id).exists()  # asking changes nothing
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/processing/report/{report.pk}/remove/")
    assert response.status_code == 302

    assert client.get(f"/s/{shared.token}/").status_code == 404
    assert not Photo.objects.filter(pk=photo_id).exists()
    assert not Job.objects.filter(pk=job_id).exists()
    assert not ShareLink.objects.exists()
    assert _files(media) == set()
    report.refresh_from_db()
    assert (report.status, report.handled_by) == (ReportStatus.REMOVED, staff)
    assert report.handled_at is not None
    action = ModerationAction.objects.get()
    assert (action.kind, action.actor, action.subject, action.report) == (
        "remove",
        staff,
        shared.job.owner,
        report,
    )
    # The admin page still shows the report, saying the content is gone.
    page = staff_client.get(f"/admin/processing/report/{report.pk}/change/").content.decode()
    assert "Removed" in page and "Removed photo" in page


def test_removing_content_closes_the_other_open_reports_on_it(staff, shared):
    first = report_share(token=shared.token, reason="illegal")
    second = report_share(token=shared.token, reason="offensive")
    report_remove_content(report_id=first.pk, actor=staff)
    second.refresh_from_db()
    assert second.status == ReportStatus.REMOVED
    assert ModerationAction.objects.count() == 1


def test_a_report_is_handled_once(staff, shared):
    report = report_share(token=shared.token, reason="other")
    report_dismiss(report_id=report.pk, actor=staff)
    with pytest.raises(AlreadyHandled):
        report_remove_content(report_id=report.pk, actor=staff)
    report.refresh_from_db()
    assert report.status == ReportStatus.DISMISSED
    assert Photo.objects.filter(pk=shared.job.photo_id).exists()
    assert ModerationAction.objects.get().kind == "dismiss"


def test_dismissing_from_the_list_records_who_and_when(staff_client, staff, shared):
    report = report_share(token=shared.token, reason="other")
    response = staff_client.post(
        "/admin/processing/report/", {"action": "dismiss", "_selected_action": [report.pk]}, follow=True
    )
    assert f"Report {report.pk}: dismissed." in response.content.decode()
    report.refresh_from_db()
    assert (report.status, report.handled_by) == (ReportStatus.DISMISSED, staff)
    assert ModerationAction.objects.get().actor == staff
    # Nothing was removed.
    assert ShareLink.objects.get().revoked_at is None


# --- suspend --------------------------------------------------------------------------------


def test_suspending_the_owner_cancels_and_refunds_queued_jobs_once(staff, user, _no_enqueue):
    photo = ready_photo(user)
    queued = job_create(user=user, photo_id=photo.pk, kind="restore")
    assert credit_balance(user=user) == 1

    cancelled = user_suspend(user=user, actor=staff)
    assert cancelled == 1
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED
    assert credit_balance(user=user) == 3
    assert _refunds(user) == 1

    # Suspending again (or from another report) refunds nothing twice.
    assert user_suspend(user=user, actor=staff) == 0
    assert _refunds(user) == 1
    call_command("credits_audit")
    assert list(ModerationAction.objects.values_list("kind", flat=True)) == ["suspend", "suspend"]


def test_a_suspended_person_cannot_sign_in_use_a_session_or_token_or_start_jobs(
    client, staff, user, _no_enqueue
):
    photo = ready_photo(user)
    client.force_login(user)
    _, secret = api_token_create(user=user, name="script")
    assert client.get("/photos/").status_code == 200

    user_suspend(user=user, actor=staff)

    # The open session stops working at once.
    assert client.get("/photos/").status_code == 302
    # The API token is refused.
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    # Signing in with the right password says why it fails; a wrong one says nothing more.
    right = client.post("/accounts/login/", {"username": user.email, "password": DEFAULT_PASSWORD})
    assert right.status_code == 200 and "suspended" in right.content.decode()
    wrong = client.post("/accounts/login/", {"username": user.email, "password": "not-the-password-1"})
    assert "suspended" not in wrong.content.decode()
    assert client.get("/photos/").status_code == 302
    # No new jobs, even through the service.
    user.refresh_from_db()
    with pytest.raises(AccountSuspended):
        job_create(user=user, photo_id=photo.pk, kind="restore")
    assert not Job.objects.exists()


def test_suspending_from_a_report_revokes_the_owners_share_links(staff_client, staff, client, shared):
    report = report_share(token=shared.token, reason="illegal")
    confirm = staff_client.get(f"/admin/processing/report/{report.pk}/suspend/").content.decode()
    assert "1 live share link(s) are revoked and their 0 open job(s)" in confirm
    assert shared.job.owner.is_active
    staff_client.post(f"/admin/processing/report/{report.pk}/suspend/")
    report.refresh_from_db()
    assert (report.status, report.handled_by) == (ReportStatus.SUSPENDED, staff)
    assert client.get(f"/s/{shared.token}/").status_code == 410
    owner = shared.job.owner
    owner.refresh_from_db()
    assert not owner.is_active and owner.suspended_at is not None


def test_lifting_a_suspension_lets_the_person_sign_in_again(client, staff, user):
    user_suspend(user=user, actor=staff)
    user_unsuspend(user=user, actor=staff, reason="appeal accepted")
    response = client.post("/accounts/login/", {"username": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert [a.kind for a in ModerationAction.objects.order_by("id")] == ["suspend", "unsuspend"]


def test_staff_cannot_suspend_themselves(staff):
    from rekindle.exceptions import DomainError

    with pytest.raises(DomainError):
        user_suspend(user=staff, actor=staff)
    staff.refresh_from_db()
    assert staff.is_active


def test_suspend_from_the_people_list(staff_client, user, _no_enqueue):
    job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    response = staff_client.post(
        "/admin/accounts/user/", {"action": "suspend", "_selected_action": [user.pk]}, follow=True
    )
    assert "1 open job(s) cancelled and refunded" in response.content.decode()
    user.refresh_from_db()
    assert not user.is_active
    assert credit_balance(user=user) == 3


def test_a_second_person_reporting_does_not_hide_the_first_report(client, other_user, shared):
    report_share(token=shared.token, reason="other")
    third = UserFactory()
    report_share(token=shared.token, reason="offensive", reporter=third)
    report_share(token=shared.token, reason="not_mine", reporter=other_user)
    assert Report.objects.filter(status=ReportStatus.OPEN).count() == 3


def test_removing_content_the_owner_already_deleted_just_closes_the_report(staff, user, shared):
    from photos.services import photo_delete

    report = report_share(token=shared.token, reason="offensive")
    photo_delete(user=user, photo_id=shared.job.photo_id)
    report.refresh_from_db()
    assert (report.photo, report.job, report.share_link) == (None, None, None)
    report_remove_content(report_id=report.pk, actor=staff)
    report.refresh_from_db()
    assert report.status == ReportStatus.REMOVED
    assert ModerationAction.objects.get().detail == "Content already gone."
    assert report.owner == user  # still known, for the owner's other reports and suspension


def test_sharing_the_same_file_again_after_removal_is_flagged_automatically(
    staff, user, shared, _no_enqueue, mailoutbox, settings, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from credits.services import credits_grant
    from photos.services import photo_preprocess, photo_upload
    from processing.models import ReportSource
    from processing.services import job_run

    settings.ADMINS = [("Ops", "ops@example.com")]
    original = shared.job.photo
    data = original.content_hash
    report = report_share(token=shared.token, reason="illegal")
    report_remove_content(report_id=report.pk, actor=staff)
    assert Report.objects.get(pk=report.pk).content_hash == data  # kept after the photo is gone

    # The same file, uploaded again, restored and shared again:
    from tests.photos import images

    same = images.jpeg(images.photo((800, 600)))
    photo = photo_upload(
        user=user, file=SimpleUploadedFile("p.jpg", same, "image/jpeg"), size=len(same), name="p.jpg"
    )
    assert photo.content_hash == data
    photo_preprocess(photo_id=photo.pk)
    credits_grant(user=user, amount=5, key="test:more", reason="test")
    job = job_create(user=user, photo_id=photo.pk, kind="restore")
    job_run(job_id=job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        link = share_create(user=user, job_id=job.pk)
        share_create(user=user, job_id=job.pk)  # a second link adds no second flag

    flag = Report.objects.get(source=ReportSource.AUTOMATIC)
    assert (flag.status, flag.reason, flag.photo, flag.owner) == ("open", "removed_before", photo, user)
    assert flag.share_link == link and flag.reporter is None
    assert f"report {report.pk}" in flag.note
    assert "Same file as content removed before" in mailoutbox[-1].body
    # A different file shares without a flag.
    someone = UserFactory()
    other_bytes = images.jpeg(images.gray_photo((800, 600)))
    different = photo_upload(
        user=someone,
        file=SimpleUploadedFile("g.jpg", other_bytes, "image/jpeg"),
        size=len(other_bytes),
        name="g",
    )
    different = photo_preprocess(photo_id=different.pk)
    assert different.content_hash != data
    other_job = job_create(user=someone, photo_id=different.pk, kind="restore")
    job_run(job_id=other_job.pk)
    share_create(user=someone, job_id=other_job.pk)
    assert Report.objects.filter(source=ReportSource.AUTOMATIC).count() == 1


def test_people_cannot_choose_the_automatic_reason(client, shared):
    response = client.post(f"/s/{shared.token}/", {"reason": "removed_before"})
    assert response.status_code == 400
    assert "Same file as content removed before" not in response.content.decode()
    assert not Report.objects.exists()
