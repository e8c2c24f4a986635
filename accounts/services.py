"""Account writes: sign-up and personal API tokens."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiToken, User
from credits.services import credits_grant_free_month
from rekindle.exceptions import DomainError, NotFound

logger = logging.getLogger(__name__)

# Writing last_used_at on every API call would turn reads into writes; once a minute is enough.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


class EmailTaken(DomainError):
    code = "email_taken"
    status = 409


def user_signup(*, email: str, password: str | None, name: str = "") -> User:
    """Create an account. Every way in (form, social login, admin script) goes through here."""
    email = User.objects.normalize_email(email).strip().lower()
    try:
        with transaction.atomic():
            if User.objects.filter(email__iexact=email).exists():
                raise EmailTaken("An account with this email already exists. Sign in or reset your password.")
            user = User.objects.create_user(email=email, password=password, name=name)
            if password is None:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            # Every account starts with its first Free month of credits.
            credits_grant_free_month(user=user)
    except IntegrityError as exc:  # a concurrent sign-up with the same address won the race
        raise EmailTaken(
            "An account with this email already exists. Sign in or reset your password."
        ) from exc
    logger.info("user signed up", extra={"user_id": user.pk})
    return user


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Make a token and return it with its raw value, which is never shown again."""
    name = name.strip()[:60] or "API token"
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=prefix, secret_hash=_hash_secret(secret))
    logger.info("api token created", extra={"user_id": user.pk, "token_prefix": prefix})
    return token, f"{settings.API_TOKEN_PREFIX}_{prefix}_{secret}"


def api_token_revoke(*, user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        logger.info("api token revoked", extra={"user_id": user.pk, "token_prefix": token.prefix})
    return token


def api_token_authenticate(*, raw_token: str) -> User | None:
    """The active user a raw token belongs to, or None for anything malformed, wrong or revoked."""
    head = f"{settings.API_TOKEN_PREFIX}_"
    if not raw_token.startswith(head) or len(raw_token) < len(head) + 14:
        return None
    prefix, sep, secret = raw_token[len(head) :].partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix, revoked_at__isnull=True).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash_secret(secret)):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_TOUCH_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def user_update_preferences(*, user: User, notify_by_email: bool, name: str) -> User:
    user.notify_by_email = notify_by_email
    user.name = name.strip()[:150]
    user.save(update_fields=["notify_by_email", "name"])
    return user
