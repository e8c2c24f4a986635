"""Password reset: the email, the one-time link, and no account enumeration."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://[^/\s]+(/accounts/password/reset/[^/\s]+/[^/\s]+/)")


def _request_reset(client, email: str):
    return client.post(reverse("accounts:password_reset"), {"email": email})


def test_reset_email_has_a_one_time_link_that_sets_a_new_password(client, user):
    response = _request_reset(client, user.email)
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    assert message.subject == "Reset your Rekindle password"
    assert "expires in one hour" in message.body
    path = LINK.search(message.body).group(1)

    form_page = client.get(path, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(
        set_url, {"new_password1": "brand-new-phrase-7", "new_password2": "brand-new-phrase-7"}
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand-new-phrase-7")

    # The same link cannot be used twice.
    again = client.get(path, follow=True)
    assert "This link no longer works" in again.content.decode()


def test_reset_form_does_not_reveal_whether_an_account_exists(client, user):
    known = _request_reset(client, user.email)
    unknown = _request_reset(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert len(mail.outbox) == 1  # only the real account got mail


def test_tampered_reset_link_is_refused_plainly(client, user):
    _request_reset(client, user.email)
    path = LINK.search(mail.outbox[0].body).group(1)
    tampered = path[:-3] + ("aa/" if not path.endswith("aa/") else "bb/")
    page = client.get(tampered, follow=True)
    assert "This link no longer works" in page.content.decode()
    assert "Traceback" not in page.content.decode()


def test_reset_link_expires(client, user, settings, monkeypatch):
    _request_reset(client, user.email)
    path = LINK.search(mail.outbox[0].body).group(1)
    settings.PASSWORD_RESET_TIMEOUT = -1  # every token is now older than the limit
    page = client.get(path, follow=True)
    assert "This link no longer works" in page.content.decode()


def test_malformed_email_in_reset_form_gets_a_message(client):
    response = _request_reset(client, "not an email")
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert mail.outbox == []
