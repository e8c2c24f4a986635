"""Sign in / out, login throttling, password change."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _login(client: Client, email: str, password: str, ip: str = "203.0.113.5"):
    return client.post(reverse("accounts:login"), {"username": email, "password": password}, REMOTE_ADDR=ip)


def test_sign_in_with_email_case_insensitive_then_sign_out(client, user, password):
    response = _login(client, user.email.upper(), password)
    assert response.status_code == 302
    assert client.get(reverse("accounts:account")).status_code == 200

    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("accounts:account")).status_code == 302  # back to sign-in


def test_wrong_password_gets_a_clear_message_that_names_no_field(client, user):
    response = _login(client, user.email, "not-the-password")
    assert response.status_code == 200
    assert "don&#x27;t match an account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_unknown_email_gets_the_same_message_as_a_wrong_password(client, user):
    known = _login(client, user.email, "not-the-password").content.decode()
    unknown = _login(client, "nobody@example.com", "not-the-password").content.decode()
    assert "don&#x27;t match an account" in known
    assert "don&#x27;t match an account" in unknown


def test_suspended_account_cannot_sign_in(client, user, password):
    user.is_active = False
    user.save()
    response = _login(client, user.email, password)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_repeated_failures_lock_the_account_from_that_address_only(client, user, password, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, user.email, "wrong-password", ip="198.51.100.1")
    # The right password from the guessing address is refused, with a clear message ...
    response = _login(Client(), user.email, password, ip="198.51.100.1")
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    # ... but a stranger cannot lock the person out: from their own address they sign in.
    assert _login(Client(), user.email, password, ip="192.0.2.77").status_code == 302


def test_failures_from_many_addresses_do_not_lock_the_account(client, user, password, settings):
    for attempt in range(settings.AXES_FAILURE_LIMIT * 2):
        _login(client, user.email, "wrong-password", ip=f"198.51.100.{attempt}")
    assert _login(Client(), user.email, password, ip="192.0.2.77").status_code == 302


def test_a_forged_forwarded_for_does_not_escape_the_lockout(user, password, settings):
    settings.TRUSTED_PROXIES = 1
    for n in range(settings.AXES_FAILURE_LIMIT):
        Client().post(
            reverse("accounts:login"),
            {"username": user.email, "password": "wrong-password"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.5",  # the left part is the client's
        )
    response = Client().post(
        reverse("accounts:login"),
        {"username": user.email, "password": password},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="192.0.2.200, 203.0.113.5",
    )
    assert response.status_code == 429


def test_two_people_behind_a_trusted_proxy_are_counted_apart(user, password, settings):
    settings.TRUSTED_PROXIES = 1
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post(
            reverse("accounts:login"),
            {"username": user.email, "password": "wrong-password"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR="203.0.113.5",
        )
    response = Client().post(
        reverse("accounts:login"),
        {"username": user.email, "password": password},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.6",
    )
    assert response.status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, user, password, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, user.email, "wrong-password")
    assert _login(client, user.email, password).status_code == 302
    client.post(reverse("accounts:logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, user.email, "wrong-password")
    assert _login(client, user.email, password).status_code == 302


def test_password_change_requires_the_old_password(signed_in_client, user, password):
    url = reverse("accounts:password_change")
    bad = signed_in_client.post(
        url,
        {"old_password": "wrong", "new_password1": "new-long-phrase-1", "new_password2": "new-long-phrase-1"},
    )
    assert bad.status_code == 200
    assert "incorrectly" in bad.content.decode()
    good = signed_in_client.post(
        url,
        {
            "old_password": password,
            "new_password1": "new-long-phrase-1",
            "new_password2": "new-long-phrase-1",
        },
    )
    assert good.status_code == 302
    user.refresh_from_db()
    assert user.check_password("new-long-phrase-1")


def test_account_page_requires_sign_in(client):
    response = client.get(reverse("accounts:account"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
