"""Photo reads, always for one owner."""

from __future__ import annotations

import numpy as np
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.utils.crypto import salted_hmac

from accounts.models import User
from photos import imaging
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


def photo_is_toned(*, photo: Photo) -> bool:
    """Whether a ready photo is a toned print (sepia and the like: ``imaging.is_toned``), the
    default for restoring it with "keep the original tone".

    Measured when asked, on the 320 px thumbnail (a few milliseconds; nothing stored): the
    thumbnail is made from the prepared photo, unenhanced, so it shows the print's own tone.
    False when there is no thumbnail or it cannot be read.
    """
    if not photo.thumbnail:
        return False
    try:
        with default_storage.open(photo.thumbnail.name, "rb") as fh:
            pixels = np.asarray(imaging.decode(fh, need=(imaging.THUMBNAIL_SIZE,) * 2).image)
    except (OSError, imaging.ImageRefused):
        return False
    return imaging.is_toned(pixels)
