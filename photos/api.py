"""Photos API: upload (multipart or presigned S3), list, get, re-crop, delete, corner detection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import PageNumberPagination, paginate
from ninja.security import APIKeyCookie, django_auth
from pydantic import Field

from accounts.auth import BearerTokenAuth
from photos.handoff import SESSION_KEY, handoff_user_for_session
from photos.models import Photo
from photos.selectors import photo_get_for_user, photo_list_for_user
from photos.services import (
    photo_abandon,
    photo_complete,
    photo_delete,
    photo_detect_corners,
    photo_presign,
    photo_recrop,
    photo_upload,
)
from photos.storage import media_url
from photos.throttling import UploadThrottle

router = Router(tags=["photos"])


class HandoffAuth(APIKeyCookie):
    """A phone that opened a desktop's QR link may upload (only) into that library."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = handoff_user_for_session(
            handoff_id=request.session.get(SESSION_KEY), session_key=request.session.session_key
        )
        if user is not None:
            request.user = user
            request.handoff = True
        return user


UPLOAD_AUTH = [BearerTokenAuth(), django_auth, HandoffAuth()]


class PhotoOut(Schema):
    id: int
    status: str
    source: str
    width: int | None
    height: int | None
    is_grayscale: bool
    quad: list[list[float]] | None
    quad_source: str
    quad_confidence: float
    error: str
    thumbnail_url: str | None
    image_url: str | None
    created_at: datetime

    @staticmethod
    def resolve_thumbnail_url(photo: Photo) -> str | None:
        return media_url(photo.thumbnail.name) if photo.thumbnail else None

    @staticmethod
    def resolve_image_url(photo: Photo) -> str | None:
        return media_url(photo.image.name) if photo.image else None


class PresignIn(Schema):
    content_type: str = Field(max_length=100)
    name: str = Field(default="", max_length=255)
    quad: list[list[float]] | None = None
    source: str | None = None
    queued_for: str | None = Field(default=None, max_length=100)


class PresignOut(Schema):
    photo: PhotoOut
    # POST ``fields`` and then the file (form field "file", last) to ``url``.
    upload: dict[str, Any]
    # The store refuses a larger file (EntityTooLarge); pages use it to say so in words.
    max_bytes: int


class CropIn(Schema):
    quad: list[list[float]]


class DetectOut(Schema):
    found: bool
    quad: list[list[float]] | None
    confidence: float


@router.post(
    "",
    response={201: PhotoOut},
    auth=UPLOAD_AUTH,
    throttle=[UploadThrottle()],
    summary="Upload a photo (multipart)",
)
def upload_photo(
    request: HttpRequest,
    file: File[UploadedFile],
    quad: Form[str | None] = None,
    source: Form[str | None] = None,
    queued_for: Form[str | None] = None,
) -> Status:
    """``queued_for``: the ``data-queue-owner`` of the page that took the photo (refused with
    409 ``queued_for_another_account`` when that is not the library it would go into)."""
    if getattr(request, "handoff", False):
        source = "handoff"  # whatever the phone says, it came through the QR link
    photo = photo_upload(
        user=request.user,
        file=file,
        size=file.size,
        name=file.name,
        quad=quad,
        source=source,
        queued_for=queued_for,
    )
    return Status(201, photo)


@router.post(
    "/presign",
    response={201: PresignOut},
    auth=UPLOAD_AUTH,
    throttle=[UploadThrottle()],
    summary="Start a direct S3 upload",
)
def presign_photo(request: HttpRequest, payload: PresignIn) -> Status:
    """Then POST the file to the bucket and call ``/{id}/complete``; ``queued_for`` as for the
    multipart upload."""
    source = "handoff" if getattr(request, "handoff", False) else payload.source
    photo, post = photo_presign(
        user=request.user,
        content_type=payload.content_type,
        quad=payload.quad,
        source=source,
        name=payload.name,
        queued_for=payload.queued_for,
    )
    return Status(201, {"photo": photo, "upload": post, "max_bytes": settings.PHOTO_MAX_BYTES})


@router.post(
    "/detect",
    response=DetectOut,
    auth=UPLOAD_AUTH,
    throttle=[UploadThrottle()],
    summary="Find a print's corners",
)
def detect_corners(request: HttpRequest, file: File[UploadedFile]) -> dict[str, Any]:
    """For the crop page: send a small copy (about 640 px) of the picture, get its corners."""
    quad, confidence = photo_detect_corners(file=file, size=file.size)
    return {"found": quad is not None, "quad": quad, "confidence": confidence}


@router.post("/{photo_id}/complete", response=PhotoOut, auth=UPLOAD_AUTH, summary="Finish a direct S3 upload")
def complete_photo(request: HttpRequest, photo_id: int) -> Photo:
    return photo_complete(user=request.user, photo_id=photo_id)


@router.post(
    "/{photo_id}/abandon", response={204: None}, auth=UPLOAD_AUTH, summary="Give up a direct S3 upload"
)
def abandon_photo(request: HttpRequest, photo_id: int) -> Status:
    """For a presigned upload that was cancelled or refused by the bucket: nothing is kept."""
    photo_abandon(user=request.user, photo_id=photo_id)
    return Status(204, None)


@router.post("/{photo_id}/crop", response=PhotoOut, summary="Straighten a ready photo again")
def crop_photo(request: HttpRequest, photo_id: int, payload: CropIn) -> Photo:
    return photo_recrop(user=request.user, photo_id=photo_id, quad=payload.quad)


@router.get("", response=list[PhotoOut], summary="Your photos, newest first")
@paginate(PageNumberPagination, page_size=24)
def list_photos(request: HttpRequest) -> object:
    return photo_list_for_user(user=request.user)


@router.get("/{photo_id}", response=PhotoOut, summary="One of your photos")
def get_photo(request: HttpRequest, photo_id: int) -> Photo:
    return photo_get_for_user(user=request.user, photo_id=photo_id)


@router.delete("/{photo_id}", response={204: None}, summary="Delete a photo, its results and files")
def delete_photo(request: HttpRequest, photo_id: int) -> Status:
    photo_delete(user=request.user, photo_id=photo_id)
    return Status(204, None)
