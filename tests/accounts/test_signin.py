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


def test_repeated_failures_for_one_account_lock_it_even_from_new_addresses(client, user, password, settings):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        _login(client, user.email, "wrong-password", ip=f"198.51.100.{attempt}")
    # Now even the right password from a fresh address is refused, with a clear message.
    response = _login(Client(), user.email, password, ip="192.0.2.77")
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()


def test_repeated_failures_from_one_address_lock_that_address(client, user, other_user, password, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(client, f"guess{n}@example.com", "wrong-password", ip="203.0.113.9")
    response = _login(Client(), other_user.email, password, ip="203.0.113.9")
    assert response.status_code == 429
    # Another address is not affected.
    assert _login(Client(), other_user.email, password, ip="203.0.113.10").status_code == 302


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
