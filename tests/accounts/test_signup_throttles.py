"""Sign-up and password reset are rate-limited per client address and per target email."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from rekindle.throttling import rate_limit_allows

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase"


def _sign_up(client: Client, email: str, address: str = "203.0.113.5"):
    data = {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    return client.post(reverse("accounts:signup"), data, REMOTE_ADDR=address)


def _reset(client: Client, email: str, address: str = "203.0.113.5"):
    return client.post(reverse("accounts:password_reset"), {"email": email}, REMOTE_ADDR=address)


def test_sign_ups_from_one_address_stop_at_the_limit_with_a_plain_429(settings):
    settings.SIGNUP_RATE_PER_ADDRESS = "3/h"

    statuses = [_sign_up(Client(), f"bot{n}@example.com").status_code for n in range(3)]
    refused = _sign_up(Client(), "bot3@example.com")
    other_address = _sign_up(Client(), "person@example.com", address="198.51.100.7")

    assert statuses == [302, 302, 302]
    assert refused.status_code == 429
    assert "Too many sign-ups in a short time" in refused.content.decode()
    assert other_address.status_code == 302
    assert not User.objects.filter(email="bot3@example.com").exists()
    assert User.objects.count() == 4


def test_sign_ups_for_one_email_stop_at_the_limit_from_any_address(settings):
    settings.SIGNUP_RATE_PER_EMAIL = "2/h"
    # Two tries at one address (bad input, so nothing is made), from different addresses.
    short = {"email": "Target@Example.com", "password1": "x", "password2": "x"}
    for address in ("198.51.100.1", "198.51.100.2"):
        assert Client().post(reverse("accounts:signup"), short, REMOTE_ADDR=address).status_code == 400

    refused = _sign_up(Client(), "target@example.com", address="198.51.100.3")

    assert refused.status_code == 429
    assert "Too many sign-ups in a short time" in refused.content.decode()
    assert not User.objects.exists()
    assert mail.outbox == []


def test_password_reset_requests_per_address_stop_at_the_limit(settings, user):
    settings.PASSWORD_RESET_RATE_PER_ADDRESS = "2/h"

    first = _reset(Client(), "someone@example.com")
    second = _reset(Client(), "someone-else@example.com")
    refused = _reset(Client(), user.email)

    assert (first.status_code, second.status_code) == (302, 302)
    assert refused.status_code == 429
    assert "Too many password reset requests" in refused.content.decode()
    assert mail.outbox == []  # the refused request sent nothing


def test_password_reset_requests_per_email_stop_at_the_limit_from_any_address(settings, user):
    settings.PASSWORD_RESET_RATE_PER_EMAIL = "2/h"

    sent = [_reset(Client(), user.email.upper(), address=f"198.51.100.{n}").status_code for n in (1, 2)]
    refused = _reset(Client(), user.email, address="198.51.100.3")

    assert sent == [302, 302]
    assert refused.status_code == 429
    assert len(mail.outbox) == 2


def test_the_limit_counts_hashed_keys_and_lets_others_through(rf):
    request = rf.post("/")
    allows = [rate_limit_allows(request, scope="t", rate="1/h", ident="a@example.com") for _ in range(2)]
    assert allows == [True, False]
    assert rate_limit_allows(request, scope="t", rate="1/h", ident="b@example.com")
    assert rate_limit_allows(request, scope="t", rate="1/h", ident="")  # nothing to key on: not limited
