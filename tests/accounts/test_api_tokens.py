"""Personal API tokens: created once, stored hashed, revocable, and the API's auth and errors."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from accounts.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db


def _bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_token_made_on_the_account_page_is_shown_once_and_stored_hashed(signed_in_client, user):
    response = signed_in_client.post(reverse("accounts:api_token_create"), {"name": "laptop"})
    assert response.status_code == 200
    raw = response.context["raw_token"]
    assert raw in response.content.decode()
    token = ApiToken.objects.get(user=user)
    assert raw not in token.secret_hash
    assert token.secret_hash == hashlib.sha256(raw.split("_", 2)[2].encode()).hexdigest()
    # Not shown again on the account page.
    assert raw not in signed_in_client.get(reverse("accounts:account")).content.decode()


def test_valid_token_authenticates_and_records_last_use(client, user):
    token, raw = api_token_create(user=user, name="script")
    response = client.get("/api/v1/me", **_bearer(raw))
    assert response.status_code == 200
    assert response.json()["email"] == user.email
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_revoked_token_is_refused(client, user):
    token, raw = api_token_create(user=user, name="script")
    api_token_revoke(user=user, token_id=token.pk)
    response = client.get("/api/v1/me", **_bearer(raw))
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "raw",
    ["", "garbage", "rk_", "rk_short_x", "rk_abcdefabcdef_wrongsecret", "Bearer", "rk_abcdefabcdef"],
)
def test_wrong_or_malformed_tokens_get_a_json_401(client, user, raw):
    api_token_create(user=user, name="script")
    response = client.get("/api/v1/me", **_bearer(raw))
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "not_authenticated"
    assert "Bearer" in body["message"]


def test_a_token_for_a_suspended_account_is_refused(client, user):
    _, raw = api_token_create(user=user, name="script")
    user.is_active = False
    user.save()
    assert client.get("/api/v1/me", **_bearer(raw)).status_code == 401


def test_cannot_revoke_someone_elses_token(signed_in_client, other_user):
    token, _ = api_token_create(user=other_user, name="theirs")
    response = signed_in_client.post(reverse("accounts:api_token_revoke", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoke_through_the_account_page(signed_in_client, user, client):
    token, raw = api_token_create(user=user, name="old")
    response = signed_in_client.post(reverse("accounts:api_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    assert client.get("/api/v1/me", **_bearer(raw)).status_code == 401


def test_session_auth_works_for_reads(signed_in_client, user):
    assert signed_in_client.get("/api/v1/me").json()["email"] == user.email


def test_session_writes_need_csrf_but_token_writes_do_not(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    # A session write without the CSRF token is refused, as JSON...
    response = client.patch("/api/v1/me", {"name": "Ada"}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    user.refresh_from_db()
    assert user.name != "Ada"
    # ...with the token from the page it goes through...
    client.get(reverse("accounts:account"))
    csrf = client.cookies["csrftoken"].value
    response = client.patch(
        "/api/v1/me", {"name": "Ada"}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Ada"
    # ...and a script with a bearer token needs no CSRF token at all.
    _, raw = api_token_create(user=user, name="s")
    response = Client(enforce_csrf_checks=True).patch(
        "/api/v1/me", {"notify_by_email": False}, content_type="application/json", **_bearer(raw)
    )
    assert response.status_code == 200
    assert response.json()["notify_by_email"] is False


def test_invalid_api_input_is_a_json_422_with_details(signed_in_client):
    response = signed_in_client.patch("/api/v1/me", {"name": "x" * 200}, content_type="application/json")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["details"]


def test_anonymous_api_call_is_a_json_401(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Sign in, or send a valid personal token as 'Authorization: Bearer <token>'.",
    }


def test_unknown_api_path_is_a_json_404(signed_in_client):
    response = signed_in_client.get("/api/v1/nothing-here")
    assert response.status_code == 404


def test_openapi_docs_are_served(client):
    assert client.get("/api/v1/docs").status_code == 200
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/me" in schema["paths"]
