"""Photo reads, always for one owner."""

from __future__ import annotations

from django.db.models import QuerySet

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
