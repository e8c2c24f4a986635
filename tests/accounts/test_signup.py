"""Sign-up: new accounts, bad input, duplicates."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_signup_creates_an_unconfirmed_account_and_signs_in(client):
    response = client.post(
        reverse("accounts:signup"),
        {"email": "Ada@Example.com", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("photos:new")  # the first run starts by adding a photo
    user = User.objects.get()
    assert user.email == "ada@example.com"
    assert user.check_password("a-long-pass-phrase")
    assert user.email_confirmed_at is None  # until the emailed link is used
    welcome = client.get(response["Location"]).content.decode()
    assert "Welcome to Rekindle! Your account is ready." in welcome
    assert "We sent a link to ada@example.com" in welcome
    assert client.get(reverse("accounts:account")).status_code == 200


def test_signup_refuses_duplicate_email_case_insensitively(client, user):
    response = client.post(
        reverse("accounts:signup"),
        {"email": user.email.upper(), "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "not-an-email", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
         "Enter a valid email address."),
        ({"email": "b@example.com", "password1": "a-long-pass-phrase", "password2": "another-pass-phrase"},
         "The two passwords don"),
        ({"email": "b@example.com", "password1": "short", "password2": "short"}, "too short"),
        ({"email": "b@example.com", "password1": "password123", "password2": "password123"}, "too common"),
        ({"email": "", "password1": "", "password2": ""}, "This field is required."),
    ],
)  # fmt: skip
def test_signup_bad_input_gets_specific_message_and_no_account(client, data, message):
    response = client.post(reverse("accounts:signup"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert User.objects.count() == 0
