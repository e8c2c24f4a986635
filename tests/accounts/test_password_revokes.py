"""A password change or reset ends everything else signed in: API tokens and other sessions.

Includes the attack from the security review: someone signs up with another person's
address before its owner does; the owner resets the password and everything the other
person had stops working.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, User
from accounts.services import api_token_create, user_password_changed
from credits.selectors import credit_balance
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RESET_LINK = re.compile(r"https?://[^/\s]+(/accounts/password/reset/[^/\s]+/[^/\s]+/)")
NEW_PASSWORD = "brand-new-phrase-7"


def _bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _is_signed_in(client: Client) -> bool:
    return client.get(reverse("accounts:account")).status_code == 200


def _reset_password(email: str, password: str = NEW_PASSWORD) -> Client:
    """What the owner of the mailbox does: ask for a link, open it, choose a password."""
    browser = Client()
    assert browser.post(reverse("accounts:password_reset"), {"email": email}).status_code == 302
    path = RESET_LINK.search(mail.outbox[-1].body).group(1)
    form_page = browser.get(path, follow=True)
    done = browser.post(
        form_page.redirect_chain[-1][0], {"new_password1": password, "new_password2": password}
    )
    assert done.status_code == 302
    return browser


def test_password_change_revokes_tokens_and_other_sessions_but_keeps_this_one(user, password):
    here, elsewhere = _signed_in(user), _signed_in(user)
    _, raw = api_token_create(user=user, name="script")
    assert Client().get("/api/v1/me", **_bearer(raw)).status_code == 200

    response = here.post(
        reverse("accounts:password_change"),
        {"old_password": password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )

    assert "Your API tokens were revoked" in response.content.decode()
    assert _is_signed_in(here)
    assert not _is_signed_in(elsewhere)
    denied = Client().get("/api/v1/me", **_bearer(raw))
    assert denied.status_code == 401
    assert denied.json()["code"] == "not_authenticated"
    assert ApiToken.objects.get(user=user).revoked_at is not None


def test_password_reset_revokes_tokens_and_signs_out_every_session(user):
    elsewhere = _signed_in(user)
    _, raw = api_token_create(user=user, name="script")

    _reset_password(user.email)

    assert Client().get("/api/v1/me", **_bearer(raw)).status_code == 401
    assert not _is_signed_in(elsewhere)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_squatter_who_signed_up_with_someone_elses_address_loses_it_when_the_owner_resets():
    # given: someone signs up with the victim's address (and cannot confirm it)
    squatter = Client()
    squatter.post(
        reverse("accounts:signup"),
        {"email": "victim@example.com", "password1": "squatters-phrase-1", "password2": "squatters-phrase-1"},
    )
    account = User.objects.get(email="victim@example.com")
    assert _is_signed_in(squatter)
    # ...they cannot make a token to keep access with
    squatter.post(reverse("accounts:api_token_create"), {"name": "backdoor"})
    assert not ApiToken.objects.exists()

    # when: the victim, who reads that mailbox, resets the password
    owner = _reset_password("victim@example.com")

    # then: the squatter is out, the owner's address counts as proven, credits are theirs
    assert not _is_signed_in(squatter)
    account.refresh_from_db()
    assert account.email_confirmed_at is not None
    assert credit_balance(user=account) == 3
    assert not account.check_password("squatters-phrase-1")
    owner.post(reverse("accounts:login"), {"username": "victim@example.com", "password": NEW_PASSWORD})
    assert _is_signed_in(owner)


def test_a_token_made_while_confirmed_dies_on_reset_even_if_made_by_someone_else():
    # The squatter confirmed by tricking the owner into clicking; the owner's reset still wins.
    account = UserFactory(email="owner@example.com")
    squatter = _signed_in(account)
    _, raw = api_token_create(user=account, name="backdoor")

    _reset_password("owner@example.com")

    assert Client().get("/api/v1/me", **_bearer(raw)).status_code == 401
    assert not _is_signed_in(squatter)


def test_admin_setting_a_password_revokes_the_persons_tokens_and_sessions(client, user):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    person_session = _signed_in(user)
    _, raw = api_token_create(user=user, name="script")

    response = client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert Client().get("/api/v1/me", **_bearer(raw)).status_code == 401
    assert not _is_signed_in(person_session)
    assert _is_signed_in(client)  # the staff member is untouched


def test_user_password_changed_counts_what_it_revoked(user):
    api_token_create(user=user, name="a")
    api_token_create(user=user, name="b")
    assert user_password_changed(user=user) == 2
    assert user_password_changed(user=user) == 0
