"""Photo reads, always for one owner."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.crypto import salted_hmac

from accounts.models import User
from photos.models import Photo
from rekindle.exceptions import NotFound


def photo_list_for_user(*, user: User) -> QuerySet[Photo]:
    return Photo.objects.filter(owner=user, upload_completed=True).order_by("-created_at")


def photo_get_for_user(*, user: User, photo_id: int) -> Photo:
    """The user's photo; someone else's is exactly as missing as one that never existed."""
    photo = Photo.objects.filter(owner=user, pk=photo_id).first()
    if photo is None:
        raise NotFound("No such photo.")
    return photo


def upload_owner_tag(*, user_id: int) -> str:
    """Whose library a page uploads into, as an opaque tag (no email, no guessable id): pages
    stamp photos queued offline with it, so they are only ever sent into that library."""
    return salted_hmac("rekindle.photos.upload-owner", f"user:{user_id}").hexdigest()[:24]
