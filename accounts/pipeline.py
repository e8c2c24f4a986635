"""social-auth pipeline steps for Auth0 (and any other OpenID Connect backend).

An existing account is linked only when the provider says the email is verified, otherwise
anyone who can register that address at the provider would take the account over. For the
same reason a new account is made only for a verified address: an unverified one would let
someone squat on another person's email here. New accounts are made through
``user_signup`` like every other account, already confirmed (the provider vouched).

An existing password account whose address was never confirmed proves nothing about who
made it: someone may have signed up with another person's email before its owner arrived.
The provider-verified owner takes it over (``user_email_takeover``): the password stops
working, its tokens and sessions end, and the account is linked to the owner.

Refusals raise ``SignInRefused``, whose text is written for the person: social-auth's
exception middleware puts it in a message on the sign-in page (``SOCIAL_AUTH_LOGIN_ERROR_URL``).
"""

from __future__ import annotations

from typing import Any

from social_core.exceptions import AuthPolicyError

from accounts.models import User
from accounts.services import EmailTaken, user_email_takeover, user_signup


class SignInRefused(AuthPolicyError):
    """A social sign-in we turn down, with a message the person can act on.

    social-core's exceptions render a fixed sentence per ``code``; this one renders our own,
    because "Authentication is not allowed by the application policy" tells nobody what to do.
    """

    def __init__(self, backend: Any, message: str, *, code: str) -> None:
        super().__init__(backend, code=code, stage="pipeline")
        self.message = message

    def __str__(self) -> str:
        return self.message


def _provider(backend: Any) -> str:
    return getattr(backend, "title", "") or "your sign-in provider"


def _email(details: dict[str, Any]) -> str:
    return (details.get("email") or "").strip().lower()


def _email_verified(details: dict[str, Any], response: dict[str, Any]) -> bool:
    # Auth0's backend copies the id_token's claim into ``details``; backends that read a
    # userinfo document leave it in ``response``. Only an explicit yes counts.
    for source in (details, response):
        verified = source.get("email_verified")
        if verified is True or verified == "true":
            return True
    return False


def _refuse_missing_email(backend: Any) -> SignInRefused:
    return SignInRefused(
        backend,
        f"{_provider(backend)} didn't share an email address with us, and Rekindle needs one for "
        "your account. Allow access to your email address there and try again.",
        code="profile_email_missing",
    )


def _refuse_unverified_email(backend: Any) -> SignInRefused:
    return SignInRefused(
        backend,
        f"We couldn't sign you in with {_provider(backend)}: your email address there isn't verified "
        f"yet. Verify it with {_provider(backend)} (look for their email), then try again, or sign in "
        "with your password.",
        code="authentication_disallowed",
    )


def associate_by_verified_email(
    backend: Any,
    details: dict[str, Any],
    response: dict[str, Any] | None = None,
    user: User | None = None,
    **kwargs: Any,
) -> dict[str, Any] | None:
    """Link a first-time social identity to the account with its email, if verified.

    An account whose own email was never confirmed is taken over first (see the module note).
    """
    if user is not None:
        return None
    email = _email(details)
    if not email:
        return None
    existing = User.objects.filter(email__iexact=email).first()
    if existing is None:
        return None
    if not _email_verified(details, response or {}):
        raise _refuse_unverified_email(backend)
    if not existing.is_active:
        return {"user": existing, "is_new": False}  # refuse_suspended says why, and changes nothing
    if not existing.email_confirmed:
        existing = user_email_takeover(user=existing)
    return {"user": existing, "is_new": False}


def refuse_suspended(backend: Any, user: User | None = None, **kwargs: Any) -> None:
    """Stop before linking or signing in a suspended account, and say why."""
    if user is not None and not user.is_active:
        raise SignInRefused(
            backend,
            "This account is suspended, so it can't be signed in to. Contact us if you think "
            "this is a mistake.",
            code="authentication_disallowed",
        )


def create_user(
    backend: Any,
    details: dict[str, Any],
    response: dict[str, Any] | None = None,
    user: User | None = None,
    **kwargs: Any,
) -> dict[str, Any] | None:
    """Make the account for a new person through ``user_signup``."""
    if user is not None:
        return {"is_new": False}
    email = _email(details)
    if not email:
        raise _refuse_missing_email(backend)
    if not _email_verified(details, response or {}):
        raise _refuse_unverified_email(backend)
    try:
        new_user = user_signup(
            email=email, password=None, name=(details.get("fullname") or "")[:150], email_confirmed=True
        )
    except EmailTaken as exc:
        # Someone signed up with this address between our lookup and now.
        raise SignInRefused(backend, exc.message, code="email_in_use") from exc
    return {"user": new_user, "is_new": True}
