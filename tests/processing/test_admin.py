"""The admin: every page of our models loads for staff and refuses everyone else; the ledger stays
read-only; the job actions re-run (free) and refund (once); `queue_status` prints what runs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from credits.models import CreditTransaction
from credits.selectors import credit_balance
from processing.models import Job, JobStatus, SpendLimit
from processing.moderation import report_share
from processing.services import job_create, job_fail
from processing.sharing import share_create
from rekindle.celery import PRIORITY_QUEUE, STANDARD_QUEUE, app
from tests.factories import UserFactory
from tests.processing.test_jobs import ready_photo

pytestmark = pytest.mark.django_db

OUR_APPS = {"accounts", "credits", "photos", "processing"}


def _our_models() -> list[type]:
    return [model for model in admin.site._registry if model._meta.app_label in OUR_APPS]


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def everything(user, finished_job):
    """One row of each kind, so list and detail pages render real data (thumbnails included)."""
    link = share_create(user=user, job_id=finished_job.pk)
    report_share(token=link.token, reason="other", note="check this")
    return finished_job


def test_every_list_and_detail_page_of_our_models_loads_for_staff(staff_client, everything):
    models = _our_models()
    assert {m._meta.model_name for m in models} >= {
        "user", "photo", "job", "credittransaction", "report", "sharelink", "moderationaction", "dataexport",
    }  # fmt: skip
    for model in models:
        opts = model._meta
        listing = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert listing.status_code == 200, opts.label
        first = model.objects.first()
        if first is not None:
            detail = staff_client.get(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk])
            )
            assert detail.status_code == 200, opts.label


def test_search_and_filters_work_on_the_busy_lists(staff_client, everything, user):
    for url in (
        f"/admin/accounts/user/?q={user.email}&tier=free",
        f"/admin/photos/photo/?q={user.email}&status__exact=ready",
        f"/admin/processing/job/?q={user.email}&status__exact=succeeded",
        f"/admin/credits/credittransaction/?q={user.email}&kind__exact=charge",
        "/admin/processing/report/?status__exact=open&reason__exact=other",
        "/admin/processing/sharelink/?state=live",
    ):
        response = staff_client.get(url)
        assert response.status_code == 200, url
        assert response.context["cl"].result_count == 1, url


@pytest.mark.parametrize("who", ["anonymous", "customer"])
def test_admin_pages_refuse_people_who_are_not_staff(client, everything, who):
    if who == "customer":
        client.force_login(UserFactory())
    for model in _our_models():
        opts = model._meta
        response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert response.status_code == 302, opts.label
        assert response["Location"].startswith("/admin/login/")
    assert client.post(f"/admin/processing/report/{everything.reports.get().pk}/dismiss/").status_code == 302
    assert everything.reports.get().status == "open"


def test_the_ledger_cannot_be_edited_or_deleted_even_by_a_superuser(staff_client, everything):
    row = CreditTransaction.objects.first()
    page = staff_client.get(f"/admin/credits/credittransaction/{row.pk}/change/").content.decode()
    assert 'name="amount"' not in page
    response = staff_client.post(
        f"/admin/credits/credittransaction/{row.pk}/change/", {"amount": 500, "reason": "free money"}
    )
    assert response.status_code == 403
    assert (
        staff_client.post(f"/admin/credits/credittransaction/{row.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    row.refresh_from_db()
    assert row.amount != 500


def test_the_moderation_queue_lists_open_reports_first_with_the_owners_other_reports(
    staff_client, everything
):
    older = everything.reports.get()
    older.status = "dismissed"
    older.save()
    link = everything.share_links.get()
    newest_open = report_share(token=link.token, reason="offensive")
    queue = staff_client.get("/admin/processing/report/")
    reports = list(queue.context["cl"].result_list)
    assert [r.pk for r in reports] == [newest_open.pk, older.pk]
    html = queue.content.decode()
    assert "Moderation queue — 1 open" in html
    assert f"?owner={everything.owner_id}" in html and "2 in all" in html
    assert '<img src="/media/s/' in html  # the result's thumbnail, through a signed URL


def test_refunding_a_job_from_the_admin_gives_the_credits_back_once(staff_client, user, finished_job):
    assert credit_balance(user=user) == 1
    for _ in range(2):
        response = staff_client.post(
            "/admin/processing/job/", {"action": "refund", "_selected_action": [finished_job.pk]}, follow=True
        )
    assert "already refunded" in response.content.decode()
    assert credit_balance(user=user) == 3
    refund = CreditTransaction.objects.get(job_id=finished_job.pk, kind="refund")
    assert refund.created_by == response.context["user"]
    call_command("credits_audit")


def test_a_failed_job_was_refunded_already_and_the_admin_says_so(staff_client, user, _no_enqueue):
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    job_fail(job_id=job.pk, code="engine_error", message="The engine broke.")
    response = staff_client.post(
        "/admin/processing/job/", {"action": "refund", "_selected_action": [job.pk]}, follow=True
    )
    assert "already refunded" in response.content.decode()
    assert CreditTransaction.objects.filter(job_id=job.pk, kind="refund").count() == 1


def test_re_running_a_job_queues_a_free_copy(
    staff_client, user, finished_job, _no_enqueue, django_capture_on_commit_callbacks
):
    balance = credit_balance(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/admin/processing/job/", {"action": "rerun", "_selected_action": [finished_job.pk]}, follow=True
        )
    copy = Job.objects.exclude(pk=finished_job.pk).get()
    assert f"re-run as job {copy.pk}" in response.content.decode()
    assert (copy.photo, copy.kind, copy.tier, copy.status) == (
        finished_job.photo,
        "restore",
        "free",
        JobStatus.QUEUED,
    )
    assert copy.credits_charged == 0
    assert credit_balance(user=user) == balance
    assert _no_enqueue == [copy.pk]  # sent to the queue once the new job is committed


def test_an_open_job_cannot_be_re_run_or_refunded(staff_client, user, _no_enqueue):
    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    for action in ("rerun", "refund"):
        response = staff_client.post(
            "/admin/processing/job/", {"action": action, "_selected_action": [job.pk]}, follow=True
        )
        assert "queued" in response.content.decode() or "not finished" in response.content.decode()
    assert Job.objects.count() == 1
    assert not CreditTransaction.objects.filter(job_id=job.pk, kind="refund").exists()


def test_queue_status_prints_queue_depths_running_jobs_and_paused_tiers(user, capsys):
    app.control.purge()
    try:
        with app.producer_or_acquire() as producer:
            for queue in (PRIORITY_QUEUE, PRIORITY_QUEUE, STANDARD_QUEUE):
                app.send_task("processing.job_run", args=[0], queue=queue, producer=producer)
        photo = ready_photo(user)
        running = Job.objects.create(
            owner=user, photo=photo, kind="restore", credits_charged=0, tier="free",
            max_width=854, max_height=480, engine="local", status=JobStatus.RUNNING,
            worker="w1@host#abc:42", lease="x", heartbeat_at=timezone.now() - timedelta(seconds=7),
        )  # fmt: skip
        SpendLimit.objects.create(tier_group="paid", daily_limit=100, paused_manually=True)

        call_command("queue_status")
    finally:
        app.control.purge()
    out = capsys.readouterr().out
    assert "priority   2" in out
    assert "standard   1" in out
    assert f"job {running.pk:<8} restore" in out
    assert "Running jobs: 1" in out
    beat = re.search(r"held by w1@host#abc:42, heartbeat (\d+) s ago", out)
    assert beat and int(beat.group(1)) >= 7
    assert "paid       spent $0.00 of $100.00 today: PAUSED" in out
    assert "free       spent $0.00 of $50.00 today: running" in out


def test_deleting_a_photo_in_the_admin_removes_its_files_too(
    staff_client, finished_job, settings, django_capture_on_commit_callbacks
):
    from pathlib import Path

    media = Path(settings.MEDIA_ROOT)
    assert any(p.is_file() for p in media.rglob("*"))
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/photos/photo/{finished_job.photo_id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Job.objects.exists()
    assert [p for p in media.rglob("*") if p.is_file()] == []


def test_revoking_a_share_link_in_the_admin_stops_it_and_records_who(
    staff_client, client, user, finished_job
):
    from django.contrib.admin.models import LogEntry

    link = share_create(user=user, job_id=finished_job.pk)
    response = staff_client.post(
        "/admin/processing/sharelink/", {"action": "revoke", "_selected_action": [link.pk]}, follow=True
    )
    assert "Revoked 1 share link(s)." in response.content.decode()
    assert client.get(f"/s/{link.token}/").status_code == 410
    entry = LogEntry.objects.get(object_id=str(link.pk))
    assert entry.user == response.context["user"] and entry.change_message == "Revoked from the admin"


def test_the_site_nav_links_to_the_admin_for_staff_only(staff_client, signed_in_client):
    assert 'href="/admin/"' in staff_client.get("/photos/").content.decode()
    assert 'href="/admin/"' not in signed_in_client.get("/photos/").content.decode()
