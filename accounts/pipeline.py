"""social-auth pipeline steps for Auth0 (and any other OpenID Connect backend).

An existing account is linked only when the provider says the email is verified, otherwise
anyone who can register that address at the provider would take the account over. New
accounts are made through ``user_signup`` like every other account.
"""

from __future__ import annotations

from typing import Any

from social_core.exceptions import AuthForbidden

from accounts.models import User
from accounts.services import user_signup


def _email_verified(response: dict[str, Any]) -> bool:
    verified = response.get("email_verified")
    return verified is True or verified == "true"


def associate_by_verified_email(
    backend: Any, details: dict[str, Any], response: dict[str, Any], user: User | None = None, **kwargs: Any
) -> dict[str, Any] | None:
    if user is not None:
        return None
    email = (details.get("email") or "").strip().lower()
    if not email:
        return None
    existing = User.objects.filter(email__iexact=email).first()
    if existing is None:
        return None
    if not _email_verified(response or {}):
        raise AuthForbidden(backend)
    return {"user": existing, "is_new": False}


def create_user(
    backend: Any, details: dict[str, Any], user: User | None = None, **kwargs: Any
) -> dict[str, Any] | None:
    if user is not None:
        return {"is_new": False}
    email = (details.get("email") or "").strip().lower()
    if not email:
        raise AuthForbidden(backend)
    new_user = user_signup(email=email, password=None, name=details.get("fullname") or "")
    return {"user": new_user, "is_new": True}
