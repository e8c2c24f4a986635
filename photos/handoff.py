"""QR hand-off: a desktop shows a short-lived link; the first phone to open it may upload
into the desktop user's library, without signing in, until the link expires."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

import segno
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from photos.models import HandoffSession, Photo, PhotoSource
from rekindle.exceptions import DomainError, NotFound

logger = logging.getLogger(__name__)

SESSION_KEY = "handoff_id"


class HandoffGone(DomainError):
    code = "handoff_gone"
    status = 410


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def handoff_start(*, user: User) -> tuple[HandoffSession, str]:
    """A new hand-off and its secret token (only shown in the QR code and link)."""
    token = secrets.token_urlsafe(24)
    handoff = HandoffSession.objects.create(
        user=user,
        token_hash=_hash(token),
        expires_at=timezone.now() + timedelta(seconds=settings.HANDOFF_TTL_S),
    )
    return handoff, token


def handoff_qr_svg(url: str) -> str:
    """The link as an inline SVG QR code (server-made, no script needed)."""
    return segno.make(url, error="m").svg_inline(scale=5, dark="#1c1917", light="#ffffff")


def handoff_claim(*, token: str, session_key: str) -> HandoffSession:
    """The phone opens the link: the first phone claims it; others are told plainly."""
    with transaction.atomic():
        handoff = HandoffSession.objects.select_for_update().filter(token_hash=_hash(token)).first()
        if handoff is None:
            raise NotFound("This link isn't valid.")
        if handoff.expires_at <= timezone.now():
            raise HandoffGone("This link has expired. Show a new QR code on your computer.")
        phone = _hash(session_key)
        if handoff.claimed_by and handoff.claimed_by != phone:
            raise HandoffGone(
                "This link was already used on another phone. Show a new QR code on your computer."
            )
        if not handoff.claimed_by:
            handoff.claimed_by, handoff.claimed_at = phone, timezone.now()
            handoff.save(update_fields=["claimed_by", "claimed_at"])
            logger.info("handoff claimed", extra={"user_id": handoff.user_id, "handoff_id": handoff.pk})
    return handoff


def handoff_user_for_session(*, handoff_id: int | None, session_key: str | None) -> User | None:
    """The library owner a phone session may upload for, while its hand-off is valid."""
    if not handoff_id or not session_key:
        return None
    handoff = (
        HandoffSession.objects.select_related("user")
        .filter(pk=handoff_id, claimed_by=_hash(session_key), expires_at__gt=timezone.now())
        .first()
    )
    if handoff is None or not handoff.user.is_active:
        return None
    return handoff.user


def handoff_arrivals(*, user: User, handoff_id: int) -> tuple[HandoffSession, QuerySet[Photo]]:
    handoff = HandoffSession.objects.filter(user=user, pk=handoff_id).first()
    if handoff is None:
        raise NotFound("No such hand-off.")
    photos = Photo.objects.filter(
        owner=user, source=PhotoSource.HANDOFF, created_at__gte=handoff.created_at, upload_completed=True
    ).order_by("-created_at")
    return handoff, photos
