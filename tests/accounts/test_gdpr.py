"""GDPR "download my data": the zip's contents, the signed link, one at a time, expiry, failures."""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from accounts.models import DataExport, DataExportStatus
from accounts.services import (
    ExportPending,
    data_export_build,
    data_export_cleanup,
    data_export_request,
)
from accounts.tasks import EXPORT_FAILED_MESSAGE, data_export_build_task
from credits.models import CreditTransaction
from rekindle.exceptions import RateLimited
from tests.accounts.gdpr import files_under, make_library, ready_photo
from tests.factories import UserFactory


def _ready_export(user, django_capture_on_commit_callbacks) -> DataExport:
    # The task is sent on commit; here the build runs in-process instead.
    with django_capture_on_commit_callbacks(execute=False):
        export = data_export_request(user=user)
    return data_export_build(export_id=export.pk)


def _zip_from(client: Client, export: DataExport) -> zipfile.ZipFile:
    response = client.get(f"/accounts/data-export/{export.pk}/download/")
    assert response.status_code == 302, response.content
    signed = client.get(response["Location"])
    assert signed.status_code == 200
    assert 'filename="rekindle-data-' in signed["Content-Disposition"]
    return zipfile.ZipFile(io.BytesIO(b"".join(signed.streaming_content)))


@pytest.mark.django_db
def test_the_zip_holds_photos_results_account_jobs_and_ledger(
    user, signed_in_client, monkeypatch, django_capture_on_commit_callbacks, _isolated_media
):
    # given a person with two photos, a finished job and a queued one
    lib = make_library(user, monkeypatch)
    # when they ask for their data and it is built
    export = _ready_export(user, django_capture_on_commit_callbacks)
    # then the zip is stored in their folder, ready, for DATA_EXPORT_DAYS
    assert export.status == DataExportStatus.READY
    assert export.file.name.startswith(f"exports/{user.pk}/") and export.file.name.endswith(".zip")
    assert export.size_bytes == default_storage.size(export.file.name)
    assert timedelta(days=6, hours=23) < export.expires_at - timezone.now() <= timedelta(days=7)

    archive = _zip_from(signed_in_client, export)
    assert archive.testzip() is None
    p1, p2 = lib.photos
    assert set(archive.namelist()) == {
        "README.txt",
        "account.json",
        "photos.json",
        "jobs.json",
        "ledger.json",
        f"photos/{p1.pk}.jpg",
        f"photos/{p2.pk}.jpg",
        f"results/{lib.finished.pk}.jpg",  # the queued job has no result yet
    }
    with default_storage.open(p1.image.name, "rb") as fh:
        assert archive.read(f"photos/{p1.pk}.jpg") == fh.read()
    with default_storage.open(lib.finished.result.name, "rb") as fh:
        assert archive.read(f"results/{lib.finished.pk}.jpg") == fh.read()
    readme = archive.read("README.txt").decode()
    for name in ("photos/", "results/", "account.json", "jobs.json", "ledger.json"):
        assert name in readme

    account = json.loads(archive.read("account.json"))
    assert account["email"] == user.email and account["name"] == user.name
    assert account["preferences"] == {"notify_by_email": True}
    assert account["tier"] == "free" and account["plan"]["name"] == "Free"
    assert account["credit_balance"] == 3 + 10 - 2 - 2
    assert account["date_joined"] == user.date_joined.isoformat()

    jobs = {j["id"]: j for j in json.loads(archive.read("jobs.json"))}
    assert jobs[lib.finished.pk]["status"] == "succeeded"
    assert jobs[lib.finished.pk]["result"] == f"results/{lib.finished.pk}.jpg"
    assert jobs[lib.finished.pk]["photo"] == p1.pk and jobs[lib.finished.pk]["credits"] == 2
    assert len(jobs[lib.finished.pk]["share_links"]) == 1
    assert jobs[lib.queued.pk]["status"] == "queued" and jobs[lib.queued.pk]["result"] is None

    photos = json.loads(archive.read("photos.json"))
    assert [p["original_name"] for p in photos] == ["grandma.jpg", "grandma.jpg"]

    ledger = json.loads(archive.read("ledger.json"))
    rows = CreditTransaction.objects.filter(user=user).order_by("created_at", "id")
    assert [(r["kind"], r["amount"], r["balance_after"]) for r in ledger] == [
        (row.kind, row.amount, row.balance_after) for row in rows
    ]
    assert [r["kind"] for r in ledger] == ["grant", "grant", "charge", "charge"]
    assert ledger[-1]["balance_after"] == account["credit_balance"]


@pytest.mark.django_db
def test_another_person_cannot_get_the_export_and_bad_links_are_refused(
    user, signed_in_client, other_user, monkeypatch, django_capture_on_commit_callbacks
):
    ready_photo(user)
    export = _ready_export(user, django_capture_on_commit_callbacks)
    url = f"/accounts/data-export/{export.pk}/download/"

    stranger = Client()
    stranger.force_login(other_user)
    assert stranger.get(url).status_code == 404
    assert f"data-export/{export.pk}/" not in stranger.get("/accounts/").content.decode()
    assert Client().get(url).status_code == 302  # to sign in, not to the file
    assert "/accounts/login/" in Client().get(url)["Location"]

    signed = signed_in_client.get(url)["Location"]
    assert signed.startswith("/media/s/")
    assert signed_in_client.get(signed[:-3] + "xx/").status_code == 404  # tampered signature
    assert signed_in_client.get(f"/accounts/data-export/{export.pk + 1000}/download/").status_code == 404

    # past its expiry date the link stops working even before the clean-up runs
    DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert signed_in_client.get(url).status_code == 404


@pytest.mark.django_db
def test_a_second_request_while_one_is_pending_is_refused(
    user, signed_in_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        first = data_export_request(user=user)
    assert len(sent) == 1  # the build task goes out after commit
    with pytest.raises(ExportPending):
        data_export_request(user=user)

    with django_capture_on_commit_callbacks(execute=False):
        response = signed_in_client.post("/accounts/data-export/", follow=True)
    assert "already being prepared" in response.content.decode()
    assert DataExport.objects.filter(user=user).count() == 1

    # once ready, a new copy waits an hour; a failed one can be asked again at once
    data_export_build(export_id=first.pk)
    with pytest.raises(RateLimited):
        data_export_request(user=user)
    DataExport.objects.filter(pk=first.pk).update(status=DataExportStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=False):
        assert data_export_request(user=user).status == DataExportStatus.PENDING


@pytest.mark.django_db
def test_the_account_page_shows_preparing_then_the_link_or_the_failure(
    user, signed_in_client, django_capture_on_commit_callbacks
):
    page = signed_in_client.get("/accounts/").content.decode()
    assert "Your data" in page and "Download my data" in page

    with django_capture_on_commit_callbacks(execute=False):
        export = data_export_request(user=user)
    page = signed_in_client.get("/accounts/").content.decode()
    assert "Preparing your data" in page and 'hx-trigger="every 3s"' in page
    poll = signed_in_client.get("/accounts/data-export/", HTTP_HX_REQUEST="true")
    assert poll.status_code == 200 and "Preparing your data" in poll.content.decode()
    assert "<html" not in poll.content.decode()  # only the fragment

    data_export_build(export_id=export.pk)
    export.refresh_from_db()
    poll = signed_in_client.get("/accounts/data-export/", HTTP_HX_REQUEST="true")
    assert poll.status_code == 286  # htmx stops polling
    body = poll.content.decode()
    assert f"/accounts/data-export/{export.pk}/download/" in body and "Download your data" in body
    assert export.expires_at.strftime("%-d %B %Y") in body

    DataExport.objects.filter(pk=export.pk).update(status=DataExportStatus.FAILED, error="Storage was down.")
    page = signed_in_client.get("/accounts/").content.decode()
    assert "couldn't prepare your data: Storage was down." in page
    assert signed_in_client.get("/accounts/data-export/").status_code == 302  # without htmx: the page


@pytest.mark.django_db
def test_expired_exports_lose_their_files_and_rows_and_lost_tasks_are_failed(
    user, other_user, django_capture_on_commit_callbacks, _isolated_media, settings
):
    old = _ready_export(user, django_capture_on_commit_callbacks)
    live = _ready_export(other_user, django_capture_on_commit_callbacks)
    DataExport.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=False):
        lost = data_export_request(user=UserFactory())
    DataExport.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.DATA_EXPORT_STALE_S + 60)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert data_export_cleanup() == 1

    assert not DataExport.objects.filter(pk=old.pk).exists()
    assert not default_storage.exists(old.file.name)
    assert DataExport.objects.get(pk=live.pk).status == DataExportStatus.READY
    assert default_storage.exists(live.file.name)
    lost.refresh_from_db()
    assert lost.status == DataExportStatus.FAILED and "took too long" in lost.error
    assert files_under(_isolated_media / "exports") == {live.file.name.removeprefix("exports/")}


@pytest.mark.django_db
def test_a_failed_build_says_so_and_leaves_no_file(
    user, monkeypatch, django_capture_on_commit_callbacks, _isolated_media
):
    ready_photo(user)
    with django_capture_on_commit_callbacks(execute=False):
        export = data_export_request(user=user)
    real_save = DataExport.save

    def failing_save(self, *args, **kwargs):
        # The zip is already in storage when marking the row ready fails.
        if "file" in (kwargs.get("update_fields") or ()):
            raise OSError("database went away")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(DataExport, "save", failing_save)
    data_export_build_task.apply(args=[export.pk])  # retries in-process, then gives up

    export.refresh_from_db()
    assert export.status == DataExportStatus.FAILED
    assert export.error == EXPORT_FAILED_MESSAGE and not export.file
    assert list(_isolated_media.rglob("*.zip")) == []


@pytest.mark.django_db
def test_building_twice_stores_one_file_and_a_new_copy_replaces_the_old(
    user, django_capture_on_commit_callbacks, _isolated_media, settings
):
    ready_photo(user)
    with django_capture_on_commit_callbacks(execute=False):
        export = data_export_request(user=user)
    first = data_export_build(export_id=export.pk)
    again = data_export_build(export_id=export.pk)  # a second delivery of the task
    assert again.file.name == first.file.name
    assert len(files_under(_isolated_media / "exports")) == 1

    settings.DATA_EXPORT_INTERVAL_S = 0
    with django_capture_on_commit_callbacks(execute=True):
        newer = _ready_export(user, django_capture_on_commit_callbacks)
    assert list(DataExport.objects.filter(user=user)) == [newer]
    assert files_under(_isolated_media / "exports") == {newer.file.name.removeprefix("exports/")}


@pytest.mark.integration
def test_an_export_is_built_by_a_real_worker(celery_worker, client):
    user = UserFactory()
    photo = ready_photo(user)
    client.force_login(user)

    response = client.post("/accounts/data-export/")
    assert response.status_code == 302
    export = DataExport.objects.get(user=user)
    deadline = time.monotonic() + 60
    while export.status == DataExportStatus.PENDING and time.monotonic() < deadline:
        time.sleep(0.2)
        export.refresh_from_db()
    assert export.status == DataExportStatus.READY, export.error

    archive = _zip_from(client, export)
    assert f"photos/{photo.pk}.jpg" in archive.namelist()
    assert json.loads(archive.read("account.json"))["email"] == user.email
    assert [r["amount"] for r in json.loads(archive.read("ledger.json"))] == [3]


@pytest.mark.django_db
def test_a_ready_export_is_not_announced_as_taking_a_few_minutes(
    user, signed_in_client, django_capture_on_commit_callbacks
):
    # given the person asks for their data and it is built before they see the page
    with django_capture_on_commit_callbacks(execute=False):
        response = signed_in_client.post("/accounts/data-export/")
    data_export_build(export_id=DataExport.objects.get(user=user).pk)
    # when the page they are sent back to shows
    page = signed_in_client.get(response["Location"]).content.decode()
    # then it says the data is ready, and nothing about minutes of waiting
    assert "Your data is ready" in page
    assert "few minutes" not in page
