"""Social sign-in through social-auth's Auth0 backend, end to end over real HTTPS.

The provider is ``tests/accounts/oidc_provider.py`` on 127.0.0.1 with a certificate made
for the run. A test walks the same path a browser does: the sign-in page's button posts to
``social:begin`` (with the page's CSRF token), the provider's ``/authorize`` approves the
person the test chose and redirects back with a code, and ``social:complete`` exchanges the
code over HTTPS, checks the id_token against the provider's JWKS and runs our pipeline.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from social_core.backends.auth0 import Auth0OAuth2
from social_django.models import UserSocialAuth
from social_django.utils import load_strategy

from accounts import pipeline
from accounts.models import ApiToken, User
from accounts.pipeline import SignInRefused
from accounts.services import user_signup
from credits.selectors import credit_balance
from tests.accounts.oidc_provider import LocalOIDCProvider, Tamper
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

CLIENT_ID = "rekindle-test-client"
CLIENT_SECRET = "test-client-secret-0f9a"
AUTH0_BACKEND = "social_core.backends.auth0.Auth0OAuth2"
BUTTON = "Continue with Auth0"


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOIDCProvider]:
    provider = LocalOIDCProvider(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, directory=tmp_path_factory.mktemp("oidc")
    ).start()
    yield provider
    provider.stop()


@pytest.fixture
def auth0(settings, oidc_provider: LocalOIDCProvider) -> LocalOIDCProvider:
    """Auth0 configured the way AUTH0_* variables configure it, pointed at the local provider."""
    settings.AUTH0_DOMAIN = settings.SOCIAL_AUTH_AUTH0_DOMAIN = oidc_provider.domain
    settings.SOCIAL_AUTH_AUTH0_KEY = CLIENT_ID
    settings.SOCIAL_AUTH_AUTH0_SECRET = CLIENT_SECRET
    settings.AUTH0_ENABLED = True
    if AUTH0_BACKEND not in settings.AUTHENTICATION_BACKENDS:
        settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, AUTH0_BACKEND]
    # social-core hands this to requests as `verify`: trust exactly the provider's
    # certificate, and nothing is switched off.
    settings.SOCIAL_AUTH_AUTH0_VERIFY_SSL = str(oidc_provider.ca_path)
    # The backend keeps fetched signing keys in a process-wide cache; start each test cold
    # so it really fetches the JWKS.
    Auth0OAuth2.get_jwks_keys_for_uri.invalidate()
    return oidc_provider


@pytest.fixture
def signup_spy() -> Iterator[mock.MagicMock]:
    """The real user_signup, recording how the pipeline called it."""
    with mock.patch("accounts.pipeline.user_signup", wraps=user_signup) as spy:
        yield spy


def _page_text(response: HttpResponse) -> str:
    return html.unescape(response.content.decode())


def _auth0_form_action(page: str) -> str | None:
    match = re.search(r'<form method="post" action="([^"]+)">\s*<input[^>]*csrfmiddlewaretoken[^>]*>\s*'
                      r'<button[^>]*>' + BUTTON, page)  # fmt: skip
    return match.group(1) if match else None


def sign_in_with_auth0(client: Client, provider: LocalOIDCProvider) -> HttpResponse:
    """Do what a browser does after the person clicks the button; return the callback's response."""
    page = client.get(reverse("accounts:login"))
    text = page.content.decode()
    action = _auth0_form_action(text)
    assert action == reverse("social:begin", args=["auth0"])
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text).group(1)

    begin = client.post(action, {"csrfmiddlewaretoken": csrf})
    assert begin.status_code == 302
    authorize = urlsplit(begin["Location"])
    assert (authorize.scheme, authorize.netloc, authorize.path) == ("https", provider.domain, "/authorize")
    params = parse_qs(authorize.query)
    assert params["client_id"] == [CLIENT_ID]
    assert params["state"][0]  # CSRF protection for the callback, checked by social-core

    # The browser follows the redirect to the provider, which approves and sends it back.
    approved = requests.get(
        begin["Location"], allow_redirects=False, verify=str(provider.ca_path), timeout=10
    )
    assert approved.status_code == 302, approved.text
    callback = urlsplit(approved.headers["Location"])
    assert callback.path == reverse("social:complete", args=["auth0"])
    return client.get(f"{callback.path}?{callback.query}")


def _signed_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def _assert_refused_on_sign_in_page(client: Client, response: HttpResponse, message: str) -> None:
    """Nobody is signed in; the person lands on the sign-in page and reads why."""
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert _signed_in_user_id(client) is None
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert message in _page_text(page)
    assert client.get(reverse("accounts:account")).status_code == 302  # still signed out


# --- The button ---------------------------------------------------------------------------


def test_sign_in_page_has_no_auth0_button_when_auth0_is_not_configured(client, settings):
    settings.AUTH0_ENABLED = False
    page = client.get(reverse("accounts:login"))
    assert page.status_code == 200
    assert BUTTON not in page.content.decode()
    assert reverse("social:begin", args=["auth0"]) not in page.content.decode()


def test_sign_in_page_offers_auth0_button_when_configured(client, auth0):
    page = client.get(reverse("accounts:login"))
    assert page.status_code == 200
    assert _auth0_form_action(page.content.decode()) == reverse("social:begin", args=["auth0"])


# --- Full flow ------------------------------------------------------------------------------


def test_first_auth0_sign_in_creates_an_account_through_user_signup_and_signs_in(auth0, signup_spy):
    client = Client(enforce_csrf_checks=True)
    auth0.sign_in_as(
        sub="auth0|ada-1", email="Ada.Lovelace@Example.com", email_verified=True, name="Ada Lovelace"
    )

    response = sign_in_with_auth0(client, auth0)

    assert response.status_code == 302
    assert response["Location"] == reverse("photos:new")  # a new account starts by adding a photo
    user = User.objects.get(email="ada.lovelace@example.com")
    signup_spy.assert_called_once_with(
        email="ada.lovelace@example.com", password=None, name="Ada Lovelace", email_confirmed=True
    )
    assert user.name == "Ada Lovelace"
    assert not user.has_usable_password()  # nobody can guess a password into a social account
    # The provider vouched for the address: confirmed at once, with the free credits.
    assert user.email_confirmed_at is not None
    assert credit_balance(user=user) == 3
    assert _signed_in_user_id(client) == str(user.pk)
    assert client.get(reverse("accounts:account")).status_code == 200
    social = UserSocialAuth.objects.get(provider="auth0", uid="auth0|ada-1")
    assert social.user == user
    assert social.extra_data["access_token"]
    # The code went back to the provider with our client credentials, and the id_token was
    # checked against keys fetched from the provider.
    assert auth0.hits[-3:] == ["/authorize", "/oauth/token", "/.well-known/jwks.json"]
    token_request = auth0.token_requests[-1]
    assert (token_request["client_id"], token_request["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
    assert token_request["grant_type"] == "authorization_code"


def test_second_sign_in_with_the_same_subject_reuses_the_account(auth0, signup_spy):
    auth0.sign_in_as(sub="auth0|bob-2", email="bob@example.com", email_verified=True, name="Bob")
    first = Client()
    sign_in_with_auth0(first, auth0)
    user = User.objects.get(email="bob@example.com")

    # Same person at the provider, who has since changed their email address there.
    auth0.sign_in_as(sub="auth0|bob-2", email="bob@new.example", email_verified=True, name="Bob")
    second = Client()
    response = sign_in_with_auth0(second, auth0)

    assert response.status_code == 302
    assert response["Location"] == reverse("home")  # a returning person goes home, not to the uploader
    assert _signed_in_user_id(second) == str(user.pk)
    assert signup_spy.call_count == 1
    assert User.objects.count() == 1
    assert UserSocialAuth.objects.filter(provider="auth0").count() == 1
    user.refresh_from_db()
    assert user.email == "bob@example.com"  # the login email is ours to change, not the provider's


def test_verified_email_links_the_existing_password_account(auth0, signup_spy):
    existing = UserFactory(email="grace@example.com")
    client = Client()
    auth0.sign_in_as(sub="auth0|grace-3", email="Grace@Example.com", email_verified=True, name="Grace")

    response = sign_in_with_auth0(client, auth0)

    assert response.status_code == 302
    assert _signed_in_user_id(client) == str(existing.pk)
    assert UserSocialAuth.objects.get(provider="auth0", uid="auth0|grace-3").user == existing
    assert User.objects.count() == 1
    signup_spy.assert_not_called()
    existing.refresh_from_db()
    assert existing.check_password(DEFAULT_PASSWORD)  # the password still works too


def test_verified_owner_takes_over_an_unconfirmed_password_account_with_their_address(auth0, signup_spy):
    # given: someone signed up with Ada's address and a password, and never confirmed it
    squatter = Client()
    squatter.post(
        reverse("accounts:signup"),
        {"email": "ada@example.com", "password1": "squatters-phrase-1", "password2": "squatters-phrase-1"},
    )
    squatted = User.objects.get(email="ada@example.com")
    assert squatter.get(reverse("accounts:account")).status_code == 200

    # when: Ada signs in with Auth0, which verified that address
    owner = Client()
    auth0.sign_in_as(sub="auth0|ada-12", email="ada@example.com", email_verified=True, name="Ada")
    response = sign_in_with_auth0(owner, auth0)

    # then: Ada has the account; the password and the squatter's session no longer work
    assert response.status_code == 302
    assert _signed_in_user_id(owner) == str(squatted.pk)
    assert UserSocialAuth.objects.get(provider="auth0", uid="auth0|ada-12").user == squatted
    signup_spy.assert_not_called()
    squatted.refresh_from_db()
    assert not squatted.has_usable_password()
    assert squatted.email_confirmed_at is not None
    assert credit_balance(user=squatted) == 3
    assert squatter.get(reverse("accounts:account")).status_code == 302
    retry = Client().post(
        reverse("accounts:login"), {"username": "ada@example.com", "password": "squatters-phrase-1"}
    )
    assert retry.status_code == 200
    assert "don't match an account" in _page_text(retry)


def test_unverified_email_never_takes_over_an_unconfirmed_account(auth0):
    existing = UserFactory(email="joan@example.com", email_confirmed=False)
    client = Client()
    auth0.sign_in_as(sub="auth0|mallory-13", email="joan@example.com", email_verified=False)

    response = sign_in_with_auth0(client, auth0)

    _assert_refused_on_sign_in_page(client, response, "your email address there isn't verified yet")
    existing.refresh_from_db()
    assert existing.check_password(DEFAULT_PASSWORD)
    assert existing.email_confirmed_at is None


def test_unverified_email_is_refused_and_never_links_the_existing_account(auth0, signup_spy):
    existing = UserFactory(email="hedy@example.com")
    client = Client()
    auth0.sign_in_as(sub="auth0|mallory-4", email="hedy@example.com", email_verified=False, name="Not Hedy")

    response = sign_in_with_auth0(client, auth0)

    _assert_refused_on_sign_in_page(client, response, "your email address there isn't verified yet")
    assert not UserSocialAuth.objects.exists()
    assert list(User.objects.all()) == [existing]
    signup_spy.assert_not_called()


def test_unverified_email_does_not_create_an_account(auth0, signup_spy):
    client = Client()
    auth0.sign_in_as(sub="auth0|new-5", email="newcomer@example.com", email_verified=False)

    response = sign_in_with_auth0(client, auth0)

    _assert_refused_on_sign_in_page(client, response, "your email address there isn't verified yet")
    assert not User.objects.exists()
    assert not UserSocialAuth.objects.exists()
    signup_spy.assert_not_called()


def test_identity_without_an_email_is_refused_with_a_reason(auth0):
    client = Client()
    auth0.sign_in_as(sub="auth0|noemail-6", email=None, email_verified=False)

    response = sign_in_with_auth0(client, auth0)

    _assert_refused_on_sign_in_page(client, response, "didn't share an email address with us")
    assert not User.objects.exists()
    assert not UserSocialAuth.objects.exists()


@pytest.mark.parametrize("confirmed", [True, False])
def test_suspended_account_is_neither_linked_nor_signed_in(auth0, confirmed):
    suspended = UserFactory(email="suspended@example.com", is_active=False, email_confirmed=confirmed)
    client = Client()
    auth0.sign_in_as(sub="auth0|susp-7", email="suspended@example.com", email_verified=True)

    response = sign_in_with_auth0(client, auth0)

    _assert_refused_on_sign_in_page(client, response, "This account is suspended")
    assert not UserSocialAuth.objects.exists()
    suspended.refresh_from_db()
    assert suspended.check_password(DEFAULT_PASSWORD)  # nothing was taken over either


# --- Tokens that must not be believed ----------------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("bad_signature", "signature could not be verified"),
        ("wrong_audience", "could not be verified"),
        ("wrong_issuer", "could not be verified"),
        ("expired", "has expired"),
    ],
)
def test_id_token_that_fails_verification_signs_nobody_in(auth0, signup_spy, tamper: Tamper, message: str):
    UserFactory(email="target@example.com")
    client = Client()
    auth0.sign_in_as(sub="auth0|forged-8", email="target@example.com", email_verified=True, tamper=tamper)

    response = sign_in_with_auth0(client, auth0)

    _assert_refused_on_sign_in_page(client, response, message)
    assert not UserSocialAuth.objects.exists()
    assert User.objects.count() == 1
    signup_spy.assert_not_called()


def test_wrong_client_secret_is_refused_by_the_provider_and_signs_nobody_in(auth0, settings):
    client = Client()
    auth0.sign_in_as(sub="auth0|secret-9", email="secret@example.com", email_verified=True)
    settings.SOCIAL_AUTH_AUTH0_SECRET = "not-the-secret"

    response = sign_in_with_auth0(client, auth0)

    _assert_refused_on_sign_in_page(client, response, "Authentication configuration is invalid.")
    assert auth0.token_requests[-1]["client_secret"] == "not-the-secret"  # it really went over the wire
    assert not User.objects.exists()


def test_provider_certificate_that_is_not_trusted_is_refused(auth0, settings):
    client = Client()
    auth0.sign_in_as(sub="auth0|tls-10", email="tls@example.com", email_verified=True)
    settings.SOCIAL_AUTH_AUTH0_VERIFY_SSL = True  # the system's CAs, which never signed our certificate

    response = sign_in_with_auth0(client, auth0)

    _assert_refused_on_sign_in_page(client, response, "A secure connection to the authentication provider")
    assert not User.objects.exists()


# --- Pipeline steps on their own ---------------------------------------------------------


@pytest.fixture
def backend() -> Auth0OAuth2:
    return Auth0OAuth2(load_strategy())


@pytest.mark.parametrize("email", [None, "", "   "])
def test_create_user_refuses_a_missing_email_and_makes_nothing(backend, email):
    with pytest.raises(SignInRefused) as refused:
        pipeline.create_user(backend, details={"email": email, "email_verified": True}, response={})
    assert refused.value.code == "profile_email_missing"
    assert "didn't share an email address" in str(refused.value)
    assert not User.objects.exists()


@pytest.mark.parametrize("email", [None, ""])
def test_associate_by_verified_email_passes_over_a_missing_email(backend, user, email):
    assert pipeline.associate_by_verified_email(backend, details={"email": email}, response={}) is None


def test_associate_by_verified_email_leaves_an_already_found_user_alone(backend, user, other_user):
    details = {"email": other_user.email, "email_verified": False}
    assert pipeline.associate_by_verified_email(backend, details=details, response={}, user=user) is None


@pytest.mark.parametrize(
    ("details", "response"),
    [
        ({"email_verified": True}, {}),
        ({}, {"email_verified": True}),  # backends that keep userinfo claims in the response
        ({}, {"email_verified": "true"}),  # providers that send the claim as a string
    ],
)
def test_associate_by_verified_email_links_when_the_provider_vouches(backend, user, details, response):
    result = pipeline.associate_by_verified_email(
        backend, details={"email": user.email.upper(), **details}, response=response
    )
    assert result == {"user": user, "is_new": False}


def test_associate_by_verified_email_takes_over_an_unconfirmed_account(backend):
    unconfirmed = UserFactory(email_confirmed=False)
    ApiToken.objects.create(user=unconfirmed, name="old", prefix="abcdefabcdef", secret_hash="0" * 64)

    result = pipeline.associate_by_verified_email(
        backend, details={"email": unconfirmed.email, "email_verified": True}, response={}
    )

    assert result == {"user": unconfirmed, "is_new": False}
    unconfirmed.refresh_from_db()
    assert not unconfirmed.has_usable_password()
    assert unconfirmed.email_confirmed_at is not None
    assert ApiToken.objects.get(user=unconfirmed).revoked_at is not None


@pytest.mark.parametrize(
    ("details", "response"),
    [
        ({"email_verified": False}, {}),
        ({}, {}),
        ({"email_verified": "false"}, {"email_verified": "false"}),
        ({"email_verified": 1}, {}),  # only an explicit yes counts
    ],
)
def test_associate_by_verified_email_refuses_without_verification(backend, user, details, response):
    with pytest.raises(SignInRefused, match="isn't verified yet"):
        pipeline.associate_by_verified_email(
            backend, details={"email": user.email, **details}, response=response
        )


def test_create_user_reports_an_account_made_meanwhile_instead_of_crashing(backend, user):
    # The email lookup ran before another sign-up with the same address committed.
    with pytest.raises(SignInRefused) as refused:
        pipeline.create_user(backend, details={"email": user.email, "email_verified": True}, response={})
    assert refused.value.code == "email_in_use"
    assert "already exists" in str(refused.value)
    assert User.objects.count() == 1


def test_create_user_keeps_the_user_found_earlier(backend, user):
    assert pipeline.create_user(backend, details={}, response={}, user=user) == {"is_new": False}


def test_refuse_suspended_stops_only_suspended_accounts(backend, user):
    assert pipeline.refuse_suspended(backend, user=user) is None
    assert pipeline.refuse_suspended(backend, user=None) is None
    user.is_active = False
    with pytest.raises(SignInRefused, match="suspended"):
        pipeline.refuse_suspended(backend, user=user)


def test_provider_certificate_is_for_the_loopback_address(oidc_provider: LocalOIDCProvider):
    # Guards the fixture itself: hostname checking (on by default) accepts the IP SAN.
    response = requests.get(
        f"https://{oidc_provider.domain}/.well-known/jwks.json", verify=str(oidc_provider.ca_path), timeout=10
    )
    assert response.status_code == 200
    assert response.json()["keys"][0]["kid"] == oidc_provider.kid


def test_refusal_reaches_the_sign_in_page_with_debug_on_too(auth0, settings):
    # social-auth re-raises in DEBUG unless told otherwise; a developer must see what a
    # person sees, not a traceback.
    settings.DEBUG = True
    client = Client()
    auth0.sign_in_as(sub="auth0|debug-11", email="debug@example.com", email_verified=False)

    response = sign_in_with_auth0(client, auth0)

    _assert_refused_on_sign_in_page(client, response, "your email address there isn't verified yet")
