"""Email confirmation: until the address is proven, no tokens, no jobs, no free credits."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, User
from accounts.services import email_confirmation_token, user_signup
from credits.models import CreditTransaction
from credits.selectors import credit_balance
from credits.services import credits_grant, credits_grant_free_months_due
from photos.services import photo_preprocess, photo_upload
from processing.models import Job
from tests.factories import UserFactory
from tests.photos import images

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://[^/\s]+(/accounts/confirm-email/[^/\s]+/)")
PASSWORD = "a-long-pass-phrase"


def _sign_up(client: Client, email: str = "new@example.com"):
    data = {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    return client.post(reverse("accounts:signup"), data)


def _emailed_link(to: str) -> str:
    messages = [m for m in mail.outbox if m.to == [to] and "Confirm your email" in m.subject]
    assert messages, f"no confirmation email to {to}"
    return LINK.search(messages[-1].body).group(1)


def _ready_photo(user: User):
    upload = SimpleUploadedFile("p.jpg", images.jpeg(images.photo((320, 240))), content_type="image/jpeg")
    photo = photo_upload(user=user, file=upload, size=upload.size, name="p.jpg")
    return photo_preprocess(photo_id=photo.pk)


# --- Sign-up ------------------------------------------------------------------------------


def test_sign_up_signs_in_unconfirmed_with_no_credits_and_emails_a_link(client):
    response = _sign_up(client)

    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert user.email_confirmed_at is None
    assert credit_balance(user=user) == 0
    assert not CreditTransaction.objects.filter(user=user).exists()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new@example.com"]
    assert mail.outbox[0].subject == "Confirm your email address for Rekindle"
    assert "expires in 3 days" in mail.outbox[0].body
    # Signed in, and every page says what to do next.
    home = client.get(reverse("home")).content.decode()
    assert "Confirm your email to get your 3 free credits and start restoring" in home
    assert reverse("accounts:email_confirm_resend") in home


def test_confirmed_accounts_see_no_banner(signed_in_client):
    assert "Confirm your email to get" not in signed_in_client.get(reverse("home")).content.decode()


def test_unconfirmed_account_cannot_make_an_api_token_on_the_page(client):
    _sign_up(client)
    user = User.objects.get()

    page = client.get(reverse("accounts:account")).content.decode()
    response = client.post(reverse("accounts:api_token_create"), {"name": "laptop"}, follow=True)

    assert "before making API tokens" in page
    assert response.status_code == 200
    assert "Confirm your email address before making API tokens" in response.content.decode()
    assert not ApiToken.objects.filter(user=user).exists()


def test_unconfirmed_account_cannot_start_a_job_through_the_api(client):
    _sign_up(client)
    user = User.objects.get()
    credits_grant(user=user, amount=10, key="test:bought", reason="bought")  # not a credits problem
    photo = _ready_photo(user)

    payload = {"photo_id": photo.pk, "kind": "restore"}
    response = client.post("/api/v1/jobs", payload, content_type="application/json")

    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "email_unconfirmed"
    assert "Confirm your email address first" in body["message"]
    assert not Job.objects.exists()
    assert credit_balance(user=user) == 10


def test_unconfirmed_account_is_told_why_on_the_choose_processing_page(client):
    _sign_up(client)
    user = User.objects.get()
    credits_grant(user=user, amount=10, key="test:bought", reason="bought")
    photo = _ready_photo(user)
    url = reverse("processing:new", args=[photo.pk])

    page = client.get(url)
    refused = client.post(url, {"kind": "restore"})

    assert "Confirm your email address first" in page.content.decode()
    assert refused.status_code == 400
    assert "Confirm your email address first" in refused.content.decode()
    assert not Job.objects.exists()


# --- The link -----------------------------------------------------------------------------


def test_the_link_asks_first_then_confirms_and_grants_three_credits_once(client):
    _sign_up(client)
    user = User.objects.get()
    path = _emailed_link(user.email)

    # Opening the link (as a mail scanner would) changes nothing; the button does.
    page = client.get(path)
    assert page.status_code == 200
    assert "Confirm my email" in page.content.decode()
    user.refresh_from_db()
    assert user.email_confirmed_at is None

    confirmed = client.post(path, follow=True)

    user.refresh_from_db()
    assert user.email_confirmed_at is not None
    assert credit_balance(user=user) == 3
    assert "is confirmed, and your free credits are in your account" in confirmed.content.decode()
    assert "Confirm your email to get" not in confirmed.content.decode()  # banner gone

    # A second click: no more credits, and it says so.
    again = client.post(path)
    assert again.status_code == 200
    assert "Already confirmed" in again.content.decode()
    assert credit_balance(user=user) == 3
    assert CreditTransaction.objects.filter(user=user, kind="grant").count() == 1


def test_confirmed_account_may_make_tokens_and_start_jobs(client):
    _sign_up(client)
    user = User.objects.get()
    client.post(_emailed_link(user.email))
    photo = _ready_photo(user)

    token_page = client.post(reverse("accounts:api_token_create"), {"name": "laptop"})
    job_page = client.post(reverse("processing:new", args=[photo.pk]), {"kind": "restore"})

    assert token_page.status_code == 200 and ApiToken.objects.filter(user=user).count() == 1
    assert job_page.status_code == 302
    assert Job.objects.get().owner == user
    assert credit_balance(user=user) == 1


def test_the_link_works_from_another_browser_that_is_not_signed_in(client):
    _sign_up(client)
    user = User.objects.get()
    elsewhere = Client()

    response = elsewhere.post(_emailed_link(user.email))

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    user.refresh_from_db()
    assert user.email_confirmed_at is not None
    assert credit_balance(user=user) == 3


def test_expired_link_says_so_and_offers_a_new_one(client, settings):
    _sign_up(client)
    user = User.objects.get()
    path = _emailed_link(user.email)
    settings.EMAIL_CONFIRMATION_MAX_AGE = -1  # every link is past its age

    expired = client.post(path)

    assert expired.status_code == 410
    assert "This confirmation link has expired" in expired.content.decode()
    assert reverse("accounts:email_confirm_resend") in expired.content.decode()
    user.refresh_from_db()
    assert user.email_confirmed_at is None

    settings.EMAIL_CONFIRMATION_MAX_AGE = 3 * 24 * 60 * 60
    resent = client.post(reverse("accounts:email_confirm_resend"))
    confirmed = client.post(_emailed_link(user.email))

    assert resent.status_code == 302
    assert len(mail.outbox) == 2
    assert confirmed.status_code == 302
    user.refresh_from_db()
    assert user.email_confirmed_at is not None
    assert credit_balance(user=user) == 3


def test_an_old_link_of_an_account_already_confirmed_reads_already_confirmed(client, settings):
    _sign_up(client)
    path = _emailed_link("new@example.com")
    client.post(path)
    settings.EMAIL_CONFIRMATION_MAX_AGE = -1

    response = client.get(path)

    assert response.status_code == 200
    assert "Already confirmed" in response.content.decode()
    assert credit_balance(user=User.objects.get()) == 3


@pytest.mark.parametrize("tamper", ["flip", "truncate", "other"])
def test_forged_or_mangled_link_is_refused_plainly_and_confirms_nothing(client, tamper):
    _sign_up(client)
    user = User.objects.get()
    path = _emailed_link(user.email)
    token = path.rstrip("/").rsplit("/", 1)[1]
    bad = {
        "flip": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "truncate": token[: len(token) // 2],
        "other": "not-a-token",
    }[tamper]

    response = client.post(reverse("accounts:email_confirm", args=[bad]))

    assert response.status_code == 400
    assert "This confirmation link doesn't work" in html.unescape(response.content.decode())
    assert "Traceback" not in response.content.decode()
    user.refresh_from_db()
    assert user.email_confirmed_at is None
    assert credit_balance(user=user) == 0


def test_link_for_an_address_the_account_no_longer_uses_is_refused(client):
    user = UserFactory(email_confirmed=False, email="old@example.com")
    token = email_confirmation_token(user=user)
    user.email = "new@example.com"
    user.save(update_fields=["email"])

    response = client.post(reverse("accounts:email_confirm", args=[token]))

    assert response.status_code == 400
    user.refresh_from_db()
    assert user.email_confirmed_at is None


def test_resend_is_throttled_per_account(client, settings):
    settings.EMAIL_CONFIRMATION_RESEND_RATE = "2/h"
    _sign_up(client)
    url = reverse("accounts:email_confirm_resend")

    first, second, third = (client.post(url) for _ in range(3))

    assert (first.status_code, second.status_code, third.status_code) == (302, 302, 429)
    assert "Please wait a little" in third.content.decode()
    assert len(mail.outbox) == 3  # the sign-up email and two resends


def test_resend_for_a_confirmed_account_sends_nothing(signed_in_client):
    response = signed_in_client.post(reverse("accounts:email_confirm_resend"), follow=True)
    assert "already confirmed" in response.content.decode()
    assert mail.outbox == []


# --- Ways in that count as confirmed ------------------------------------------------------


def test_createsuperuser_accounts_are_confirmed():
    admin = User.objects.create_superuser(email="root@example.com", password="x-long-pass-phrase")
    assert admin.email_confirmed_at is not None


def test_demo_account_is_confirmed_with_its_credits(settings):
    from django.core.management import call_command

    settings.DEBUG = True
    call_command("ensure_demo_user")
    demo = User.objects.get(email="demo@rekindle.local")
    assert demo.email_confirmed_at is not None
    assert credit_balance(user=demo) == 3


def test_signup_service_grants_credits_only_to_confirmed_accounts():
    unproven = user_signup(email="a@example.com", password=PASSWORD)
    proven = user_signup(email="b@example.com", password=PASSWORD, email_confirmed=True)
    assert (credit_balance(user=unproven), credit_balance(user=proven)) == (0, 3)


# --- The free month, later ----------------------------------------------------------------


def test_the_monthly_free_grant_skips_unconfirmed_accounts():
    unconfirmed = UserFactory(email_confirmed=False)
    confirmed = UserFactory()

    granted = credits_grant_free_months_due(today=date.today() + timedelta(days=40))

    assert granted == 1
    assert credit_balance(user=unconfirmed) == 0
    assert credit_balance(user=confirmed) == 6


def test_confirming_late_grants_the_current_month_once_even_with_the_monthly_task():
    user = UserFactory(email_confirmed=False, date_joined=timezone.now() - timedelta(days=40))
    token = email_confirmation_token(user=user)

    Client().post(reverse("accounts:email_confirm", args=[token]))
    Client().post(reverse("accounts:email_confirm", args=[token]))
    credits_grant_free_months_due()

    assert credit_balance(user=user) == 3
    assert CreditTransaction.objects.filter(user=user, kind="grant").count() == 1
