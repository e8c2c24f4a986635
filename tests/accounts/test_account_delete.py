"""GDPR "delete my account": what the page promises, the password, files, personal data, the ledger,
the paid plan at Stripe, and S3."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
import stripe
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client
from djstripe.models import Customer
from social_django.models import UserSocialAuth

from accounts import services
from accounts.models import ApiToken, DataExport, User
from accounts.services import (
    PlanNotCancelled,
    WrongPassword,
    account_delete,
    data_export_build,
    data_export_request,
)
from credits.billing import stripe_customer_for_user
from credits.models import CreditBalance, CreditTransaction, Membership, SubscriptionStatus
from credits.selectors import credit_balance
from photos.models import HandoffSession, Photo
from photos.storage import media_url
from processing.models import Job, ShareLink
from tests.accounts.gdpr import files_under, make_library, owned_by, ready_photo, tables_containing
from tests.credits import stripe_server
from tests.credits.stripe_server import StripeServer
from tests.factories import DEFAULT_PASSWORD, UserFactory


def _audit_clean() -> str:
    out = io.StringIO()
    call_command("credits_audit", stdout=out)  # raises CommandError on any problem
    return out.getvalue()


def _snapshot(user: User) -> dict[str, Any]:
    return {
        "photos": Photo.objects.filter(owner=user).count(),
        "jobs": sorted(Job.objects.filter(owner=user).values_list("pk", "status")),
        "ledger": CreditTransaction.objects.filter(user=user).count(),
        "balance": credit_balance(user=user),
        "tokens": ApiToken.objects.filter(user=user).count(),
    }


@pytest.fixture
def stripe_deletes(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeServer]:
    """The local Stripe server (tests/credits) plus DELETE for subscriptions and customers.

    ``state.objects["fail"] = {...}`` makes every DELETE answer 500, as when Stripe is down.
    """
    state = StripeServer()
    base = stripe_server._handler(state)

    class Handler(base):  # type: ignore[misc, valid-type]
        def do_DELETE(self) -> None:
            path = self._record({})
            if "fail" in state.objects:
                return self._answer(500, {"error": {"type": "api_error", "message": "Stripe is down"}})
            object_id = path.rstrip("/").rsplit("/", 1)[-1]
            obj = state.objects.get(object_id)
            if obj is None:
                return self._answer(404, stripe_server._error(f"No such object: {object_id}"))
            if obj["object"] == "customer":
                state.objects[object_id] = {"id": object_id, "object": "customer", "deleted": True}
                return self._answer(200, state.objects[object_id])
            obj["status"] = "canceled"
            return self._answer(200, obj)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setattr(stripe, "api_base", state.url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    settings.STRIPE_SECRET_KEY = "sk_test_RekindleLocalStripeServer0001"
    settings.STRIPE_ENABLED = True
    settings.STRIPE_PRICE_IDS = stripe_server.PRICE_IDS
    yield state
    httpd.shutdown()
    httpd.server_close()


def _paid_plan(user: User, server: StripeServer) -> tuple[Customer, Membership]:
    customer = stripe_customer_for_user(user=user)
    # As dj-stripe stores it once a customer.* webhook has synced it: with the person's details.
    Customer.objects.filter(id=customer.id).update(
        email=user.email, stripe_data={"id": customer.id, "email": user.email, "name": user.name}
    )
    server.put({"id": "sub_gdpr", "object": "subscription", "customer": customer.id, "status": "active"})
    membership = Membership.objects.create(
        user=user, plan="remember", status=SubscriptionStatus.ACTIVE, stripe_subscription_id="sub_gdpr"
    )
    return customer, membership


# --- The page ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_lists_what_will_be_lost_including_the_credits(user, signed_in_client, monkeypatch):
    make_library(user, monkeypatch)
    Membership.objects.create(user=user, plan="cherish", status=SubscriptionStatus.ACTIVE)

    page = signed_in_client.get("/accounts/delete/").content.decode()

    assert "<strong>2</strong> photos" in page
    assert "<strong>1</strong> result " in page
    assert "<strong>1</strong> active share link" in page
    assert "<strong>1</strong> unfinished job," in page
    assert "<strong>9 credits</strong> will be forfeited" in page  # 3 + 10 - 2 - 2
    assert "<strong>Cherish</strong> plan is cancelled immediately" in page
    assert 'autocomplete="current-password"' in page and "Your password" in page
    # the account page leads here
    assert 'href="/accounts/delete/"' in signed_in_client.get("/accounts/").content.decode()


@pytest.mark.django_db
def test_the_page_says_free_accounts_have_no_plan_to_cancel(signed_in_client):
    page = signed_in_client.get("/accounts/delete/").content.decode()
    assert "No paid plan to cancel" in page and "<strong>3 credits</strong> will be forfeited" in page


# --- Refusals change nothing -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["wrong-password-123", ""])
def test_a_wrong_or_missing_password_changes_nothing(
    user, signed_in_client, monkeypatch, password, _isolated_media, django_capture_on_commit_callbacks
):
    make_library(user, monkeypatch)
    before, files = _snapshot(user), files_under(_isolated_media)

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in_client.post("/accounts/delete/", {"password": password})

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert User.objects.filter(pk=user.pk).exists()
    assert _snapshot(user) == before
    assert files_under(_isolated_media) == files
    assert signed_in_client.get("/accounts/").status_code == 200  # still signed in
    with pytest.raises(WrongPassword):
        account_delete(user=user, password="nope")


@pytest.mark.django_db
def test_a_failure_midway_rolls_everything_back_and_keeps_the_files(
    user, monkeypatch, _isolated_media, django_capture_on_commit_callbacks
):
    lib = make_library(user, monkeypatch)
    before, files = _snapshot(user), files_under(_isolated_media)

    def broken_delete(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(User, "delete", broken_delete)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        account_delete(user=user, password=DEFAULT_PASSWORD)

    assert _snapshot(user) == before  # the queued job is still queued, nothing forfeited
    assert Job.objects.get(pk=lib.queued.pk).status == "queued"
    assert files_under(_isolated_media) == files


# --- Deletion -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_deleting_removes_every_file_and_all_personal_data_and_keeps_an_anonymous_ledger(
    user,
    signed_in_client,
    other_user,
    monkeypatch,
    _isolated_media,
    django_capture_on_commit_callbacks,
    caplog,
):
    # given a person with photos, a result, a queued job, a share link, a token, a hand-off,
    # a data export, an admin history entry; and someone else with a photo and a job
    lib = make_library(user, monkeypatch)
    ApiToken.objects.create(user=user, name="laptop", prefix="abcdef123456", secret_hash="0" * 64)
    HandoffSession.objects.create(user=user, token_hash="1" * 64, expires_at=lib.share.expires_at)
    with django_capture_on_commit_callbacks(execute=False):
        export = data_export_request(user=user)
    data_export_build(export_id=export.pk)
    LogEntry.objects.create(
        user=other_user,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(user.pk),
        object_repr=user.email,
        action_flag=CHANGE,
    )
    UserSocialAuth.objects.create(
        user=user, provider="auth0", uid="auth0|gdpr-1", extra_data={"email": user.email, "name": user.name}
    )
    theirs = make_library(other_user, monkeypatch)
    their_before = _snapshot(other_user)
    user_id, email = user.pk, user.email
    ledger_ids = list(CreditTransaction.objects.filter(user=user).values_list("pk", flat=True))
    all_files = files_under(_isolated_media)
    mine, others = owned_by(all_files, user_id), owned_by(all_files, other_user.pk)
    assert len(mine) >= 6 and others  # photos, thumbnails, result + thumbnail, export
    assert any(n.startswith("exports/") for n in mine)
    assert tables_containing(email)  # the scan below can find the address

    # when they delete their account with their password
    with (
        caplog.at_level("INFO", logger="accounts.services"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = signed_in_client.post("/accounts/delete/", {"password": DEFAULT_PASSWORD})

    # then they are signed out and told goodbye, and the log says so without the address
    deleted = next(r for r in caplog.records if r.getMessage() == "account deleted")
    assert (deleted.user_id, deleted.jobs_cancelled, deleted.credits_forfeited) == (user_id, 1, 11)
    assert not [r for r in caplog.records if email in json.dumps(r.__dict__, default=str)]
    assert response.status_code == 302 and response["Location"] == "/"
    assert "have been deleted" in signed_in_client.get("/").content.decode()
    assert signed_in_client.get("/accounts/").status_code == 302  # to sign in
    # no file of theirs is left; everyone else's are untouched
    left = files_under(_isolated_media)
    assert owned_by(left, user_id) == set()
    assert left == all_files - mine
    # no row about them, and their email is nowhere in the database
    assert not User.objects.filter(pk=user_id).exists()
    for model, field in (
        (ApiToken, "user_id"),
        (Photo, "owner_id"),
        (Job, "owner_id"),
        (Membership, "user_id"),
        (DataExport, "user_id"),
        (HandoffSession, "user_id"),
        (CreditBalance, "user_id"),
        (UserSocialAuth, "user_id"),
    ):
        assert not model.objects.filter(**{field: user_id}).exists(), model
    assert not ShareLink.objects.filter(pk=lib.share.pk).exists()
    assert tables_containing(email) == []
    assert LogEntry.objects.get(object_id=str(user_id)).object_repr == f"Deleted account {user_id}"
    # the ledger is kept without the person, and it sums to zero: the queued job was refunded
    # and the rest forfeited
    kept = CreditTransaction.objects.filter(pk__in=ledger_ids)
    assert kept.count() == len(ledger_ids) and not kept.filter(user__isnull=False).exists()
    anonymous = CreditTransaction.objects.filter(
        user__isnull=True, job_id__in=[lib.queued.pk, lib.finished.pk]
    )
    refund = anonymous.get(kind="refund")
    assert (refund.job_id, refund.amount) == (lib.queued.pk, 2)
    forfeit = CreditTransaction.objects.get(idempotency_key=f"account:{user_id}:deleted")
    assert (forfeit.kind, forfeit.amount, forfeit.balance_after, forfeit.user) == ("forfeit", -11, 0, None)
    assert (
        CreditTransaction.objects.filter(pk__in=[*ledger_ids, refund.pk, forfeit.pk]).aggregate(
            total=Sum("amount")
        )["total"]
        == 0
    )
    assert "0 problem(s)" in _audit_clean()
    # the other person keeps everything
    assert _snapshot(other_user) == their_before
    assert Job.objects.get(pk=theirs.queued.pk).status == "queued"


@pytest.mark.django_db
def test_a_queued_job_is_cancelled_and_refunded_before_the_rest_is_forfeited(
    user, monkeypatch, django_capture_on_commit_callbacks
):
    lib = make_library(user, monkeypatch, credits=4)  # 3 + 4 - 2 - 2 = 3 left
    user_id = user.pk

    with django_capture_on_commit_callbacks(execute=True):
        account_delete(user=user, password=DEFAULT_PASSWORD)

    rows = list(CreditTransaction.objects.filter(user__isnull=True).order_by("id"))
    tail = [(r.kind, r.amount, r.balance_after, r.job_id) for r in rows[-2:]]
    assert tail == [("refund", 2, 5, lib.queued.pk), ("forfeit", -5, 0, None)]
    assert rows[-1].idempotency_key == f"account:{user_id}:deleted"
    assert sum(r.amount for r in rows) == 0
    _audit_clean()


@pytest.mark.django_db
def test_a_social_login_account_confirms_with_its_email(monkeypatch, django_capture_on_commit_callbacks):
    person = UserFactory(password=None)
    assert not person.has_usable_password()
    client = Client()
    client.force_login(person)
    page = client.get("/accounts/delete/").content.decode()
    assert "Type your email address to confirm" in page and "Your password" not in page

    response = client.post("/accounts/delete/", {"confirm_email": "someone@else.com"})
    assert response.status_code == 400 and User.objects.filter(pk=person.pk).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/delete/", {"confirm_email": person.email.upper()})
    assert response.status_code == 302
    assert not User.objects.filter(pk=person.pk).exists()


# --- The paid plan ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_paid_plan_is_cancelled_at_stripe_and_the_customer_deleted(
    user, stripe_deletes, django_capture_on_commit_callbacks
):
    customer, _ = _paid_plan(user, stripe_deletes)
    email = user.email
    assert "djstripe_customer" in tables_containing(email)  # dj-stripe's copy holds the address

    with django_capture_on_commit_callbacks(execute=True):
        account_delete(user=user, password=DEFAULT_PASSWORD)

    deletes = [r.path for r in stripe_deletes.calls("DELETE", "/v1/")]
    assert deletes == ["/v1/subscriptions/sub_gdpr", f"/v1/customers/{customer.id}"]
    assert stripe_deletes.objects["sub_gdpr"]["status"] == "canceled"
    assert not Customer.objects.filter(id=customer.id).exists()
    assert not Membership.objects.filter(stripe_subscription_id="sub_gdpr").exists()
    assert tables_containing(email) == []
    _audit_clean()


@pytest.mark.django_db
def test_when_stripe_cannot_cancel_the_plan_nothing_is_deleted(
    user, signed_in_client, stripe_deletes, django_capture_on_commit_callbacks
):
    customer, membership = _paid_plan(user, stripe_deletes)
    stripe_deletes.objects["fail"] = {"id": "fail"}
    before = _snapshot(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in_client.post("/accounts/delete/", {"password": DEFAULT_PASSWORD})

    assert response.status_code == 400
    assert "couldn&#x27;t reach our payment provider" in response.content.decode()
    assert User.objects.filter(pk=user.pk).exists() and _snapshot(user) == before
    assert Customer.objects.filter(id=customer.id, subscriber=user).exists()
    membership.refresh_from_db()
    assert membership.status == SubscriptionStatus.ACTIVE


@pytest.mark.django_db
def test_a_stripe_plan_cannot_be_deleted_from_a_server_without_payments(user, settings):
    settings.STRIPE_ENABLED = False
    Membership.objects.create(
        user=user, plan="remember", status=SubscriptionStatus.CANCELLING, stripe_subscription_id="sub_x"
    )
    with pytest.raises(PlanNotCancelled, match="Cancel it first"):
        account_delete(user=user, password=DEFAULT_PASSWORD)
    assert User.objects.filter(pk=user.pk).exists() and credit_balance(user=user) == 3


# --- S3 ---------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_deleting_on_s3_leaves_no_object_of_the_person(s3_storage, monkeypatch):
    import requests

    person, other = UserFactory(), UserFactory()
    make_library(person, monkeypatch)
    ready_photo(other)
    monkeypatch.setattr(services, "_data_export_enqueue", lambda *, export: None)  # built here instead
    export = data_export_request(user=person)
    export = data_export_build(export_id=export.pk)
    # the download is a presigned, expiring S3 URL that works
    url = media_url(export.file.name, download_name="data.zip")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=" in url
    assert requests.get(url, timeout=10).content[:2] == b"PK"
    # a leftover in their folder that no row names (e.g. from an interrupted upload)
    stray = default_storage.save(f"originals/{person.pk}/stray.upload", io.BytesIO(b"x" * 10))
    objects = set(s3_storage.objects())
    mine = owned_by(objects, person.pk)
    assert stray in mine and len(mine) >= 7
    assert owned_by(objects, other.pk)

    account_delete(user=person, password=DEFAULT_PASSWORD)

    left = set(s3_storage.objects())
    assert owned_by(left, person.pk) == set()
    assert left == objects - mine
    assert "0 problem(s)" in _audit_clean()
    assert owned_by(left, other.pk) == owned_by(objects, other.pk)
