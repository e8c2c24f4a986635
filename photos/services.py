"""Photo writes: upload (direct or presigned S3), preprocessing, re-crop, delete, clean-up.

A refused upload leaves nothing behind: the file is checked by content before anything is
stored, and a stored file whose row cannot be written is removed again. Preprocessing runs
in a task and always ends with the original upload deleted, whatever the outcome.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image

from accounts.models import User
from credits.selectors import user_tier
from photos import imaging
from photos.models import Photo, PhotoSource, PhotoStatus, QuadSource
from photos.selectors import upload_owner_tag
from photos.storage import sse_post_fields, storage_key
from rekindle.celery import queue_for_tier
from rekindle.exceptions import DomainError, NotFound

logger = logging.getLogger(__name__)

FORMAT_EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}


class PhotoTooLarge(DomainError):
    code = "too_large"
    status = 413


class UnsupportedImage(DomainError):
    code = "unsupported_type"
    status = 415


class UnreadableImage(DomainError):
    code = "unreadable_image"
    status = 422


class InvalidQuad(DomainError):
    code = "invalid_quad"
    status = 422


class QueuedForAnotherAccount(DomainError):
    code = "queued_for_another_account"
    status = 409


class PhotoNotUploaded(DomainError):
    code = "upload_missing"
    status = 409


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def check_size(size: int) -> None:
    limit = settings.PHOTO_MAX_BYTES
    if size > limit:
        raise PhotoTooLarge(
            f"This file is {_mb(size)}; photos can be at most {limit // (1024 * 1024)} MB.",
            bytes=size,
            max_bytes=limit,
        )


def refusal(exc: imaging.ImageRefused) -> DomainError:
    """The person-facing error for a file the imaging layer refused."""
    if isinstance(exc, imaging.UnsupportedFormat):
        return UnsupportedImage(
            "This file isn't a photo we can use: upload a JPEG, PNG, HEIC or WebP image.", detail=str(exc)
        )
    if "pixels" in str(exc):
        return UnreadableImage(
            "This image has more pixels than we can handle "
            f"(at most {imaging.MAX_PIXELS // 1_000_000} megapixels).",
            detail=str(exc),
        )
    return UnreadableImage(
        "We couldn't read this image: it may be damaged or incomplete. Try exporting or taking it again.",
        detail=str(exc),
    )


def parse_quad(quad: object) -> imaging.Quad | None:
    """The person's corners from the API (a JSON string or a list), validated; None if absent."""
    if quad in (None, "", "null"):
        return None
    if isinstance(quad, str):
        try:
            quad = json.loads(quad)
        except json.JSONDecodeError as exc:
            raise InvalidQuad("The corners must be JSON: [[x, y], [x, y], [x, y], [x, y]].") from exc
    try:
        return imaging.validate_quad(quad)
    except ValueError as exc:
        raise InvalidQuad(str(exc)) from exc


def _source(source: str | None) -> str:
    return source if source in PhotoSource.values else PhotoSource.GALLERY


def _sha256(stream: IO[bytes]) -> str:
    stream.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def _check_queued_for(*, user: User, queued_for: str | None) -> None:
    if queued_for and queued_for != upload_owner_tag(user_id=user.pk):
        raise QueuedForAnotherAccount(
            "This photo was taken on this device for another account, so it was not added to yours."
        )


def photo_enqueue_preprocess(*, photo: Photo) -> None:
    from photos.tasks import photo_preprocess_task

    queue = queue_for_tier(user_tier(user=photo.owner))
    photo_preprocess_task.apply_async(args=[photo.pk], queue=queue)


def photo_upload(
    *,
    user: User,
    file: IO[bytes],
    size: int,
    name: str = "",
    quad: object = None,
    source: str | None = None,
    queued_for: str | None = None,
) -> Photo:
    """Accept an upload: check size, real format and readability, store it, queue preprocessing.

    ``queued_for`` is the owner tag of the page that took the photo (``upload_owner_tag``):
    a photo taken for one library is never stored in another, whoever is signed in on the
    device by the time it is sent.
    """
    _check_queued_for(user=user, queued_for=queued_for)
    check_size(size)
    corners = parse_quad(quad)
    try:
        # Header, pixel cap and a check decode only where it is cheap: a web request's memory
        # stays bounded whatever the file; the full decode is the worker's (photo_preprocess).
        fmt = imaging.verify(file, max_decode_bytes=settings.PHOTO_VERIFY_MAX_DECODE_BYTES)
    except imaging.ImageRefused as exc:
        raise refusal(exc) from exc
    content_hash = _sha256(file)
    key = storage_key(user_id=user.pk, kind="originals", ext=FORMAT_EXT[fmt])
    stored = default_storage.save(key, file)
    try:
        with transaction.atomic():
            photo = Photo.objects.create(
                owner=user,
                source=_source(source),
                original_name=(name or "")[:255],
                original=stored,
                upload_completed=True,
                source_format=fmt,
                bytes=size,
                content_hash=content_hash,
                quad=corners,
                quad_source=QuadSource.PERSON if corners else QuadSource.NONE,
            )
            transaction.on_commit(lambda: photo_enqueue_preprocess(photo=photo))
    except Exception:
        default_storage.delete(stored)  # no orphan file when the row could not be written
        raise
    logger.info(
        "photo uploaded", extra={"photo_id": photo.pk, "user_id": user.pk, "format": fmt, "bytes": size}
    )
    return photo


def photo_detect_corners(*, file: IO[bytes], size: int) -> tuple[imaging.Quad | None, float]:
    """A print's corners on a small copy of a picture (the crop page sends about 640 px):
    (quad or None, confidence). A file too costly to decode in a web request is refused."""
    check_size(size)
    try:
        decoded = imaging.decode(
            file, need=(640, 640), margin=1.0, max_decode_bytes=settings.PHOTO_VERIFY_MAX_DECODE_BYTES
        )
    except imaging.TooCostly as exc:
        raise PhotoTooLarge(
            "This picture is too large to look for corners in: send a smaller copy "
            "(about 640 px along its long side).",
            detail=str(exc),
        ) from exc
    except imaging.ImageRefused as exc:
        raise refusal(exc) from exc
    quad, confidence = imaging.detect_border(np.asarray(decoded.image))
    found = quad is not None and confidence >= imaging.BORDER_CONFIDENCE_MIN
    return (quad if found else None), confidence


def photo_preprocess(*, photo_id: int) -> Photo | None:
    """Make the processing-ready image and thumbnail; reject unusable files. Idempotent."""
    with transaction.atomic():
        photo = Photo.objects.select_for_update().filter(pk=photo_id).first()
        if photo is None or photo.status not in (PhotoStatus.UPLOADED, PhotoStatus.PREPROCESSING):
            return photo
        if not photo.upload_completed or not photo.original:
            return photo
        photo.status = PhotoStatus.PREPROCESSING
        photo.save(update_fields=["status", "updated_at"])
    person_quad = photo.quad if photo.quad_source == QuadSource.PERSON else None
    try:
        with default_storage.open(photo.original.name, "rb") as fh:
            prepared = imaging.prepare(fh, quad=person_quad)
    except imaging.ImageRefused as exc:
        return photo_reject(photo_id=photo.pk, message=refusal(exc).message)
    original = photo.original.name
    saved: list[str] = []
    try:
        saved.append(
            default_storage.save(
                storage_key(user_id=photo.owner_id, kind="photos", ext="jpg"),
                ContentFile(imaging.encode_jpeg(prepared.image)),
            )
        )
        saved.append(
            default_storage.save(
                storage_key(user_id=photo.owner_id, kind="thumbs", ext="jpg"),
                ContentFile(imaging.encode_jpeg(prepared.thumbnail, quality=82)),
            )
        )
        content_hash = photo.content_hash
        if not content_hash:
            with default_storage.open(original, "rb") as fh:
                content_hash = _sha256(fh)
        with transaction.atomic():
            # At-least-once delivery: another run may have finished (or the photo been
            # deleted) meanwhile; then these files are surplus.
            current = Photo.objects.select_for_update().filter(pk=photo.pk).first()
            if current is None or current.status != PhotoStatus.PREPROCESSING:
                for name in saved:
                    default_storage.delete(name)
                return current
            current.image, current.thumbnail = saved
            current.width, current.height = prepared.image.size
            current.is_grayscale = prepared.is_grayscale
            current.source_format = prepared.decoded.source_format
            current.content_hash = content_hash
            current.quad, current.quad_source, current.quad_confidence = (
                prepared.quad,
                prepared.quad_source,
                prepared.quad_confidence,
            )
            current.status, current.ready_at, current.error = PhotoStatus.READY, timezone.now(), ""
            current.original = ""
            current.save()
    except Exception:
        for name in saved:  # no orphan outputs when storage or the database fails midway
            default_storage.delete(name)
        raise
    default_storage.delete(original)
    logger.info(
        "photo ready",
        extra={
            "photo_id": current.pk,
            "quad_source": current.quad_source,
            "confidence": current.quad_confidence,
        },
    )
    return current


def photo_reject(*, photo_id: int, message: str) -> Photo:
    """Mark a photo rejected with the reason and delete whatever was stored for it."""
    photo = Photo.objects.get(pk=photo_id)
    for field in (photo.original, photo.image, photo.thumbnail):
        if field:
            default_storage.delete(field.name)
    photo.status, photo.error = PhotoStatus.REJECTED, message[:300]
    photo.original, photo.image, photo.thumbnail = "", "", ""
    photo.save()
    logger.info("photo rejected", extra={"photo_id": photo.pk, "reason": message})
    return photo


def photo_recrop(*, user: User, photo_id: int, quad: object) -> Photo:
    """Straighten a ready photo again from corners chosen on its processing-ready image
    (for files the browser could not draw before upload, such as HEIC)."""
    corners = parse_quad(quad)
    if corners is None:
        raise InvalidQuad("Give the four corners to straighten the photo.")
    photo = Photo.objects.filter(owner=user, pk=photo_id).first()
    if photo is None:
        raise NotFound("No such photo.")
    if photo.status != PhotoStatus.READY:
        raise PhotoNotUploaded("This photo is not ready yet.")
    with default_storage.open(photo.image.name, "rb") as fh:
        current = imaging.decode(fh).image
    warped = Image.fromarray(imaging.warp_quad(np.asarray(current), corners))
    ready = imaging.fit_within(warped)
    old = (photo.image.name, photo.thumbnail.name)
    photo.image = default_storage.save(
        storage_key(user_id=user.pk, kind="photos", ext="jpg"), ContentFile(imaging.encode_jpeg(ready))
    )
    photo.thumbnail = default_storage.save(
        storage_key(user_id=user.pk, kind="thumbs", ext="jpg"),
        ContentFile(imaging.encode_jpeg(imaging.thumbnail(ready), quality=82)),
    )
    photo.width, photo.height = ready.size
    photo.quad, photo.quad_source, photo.quad_confidence = corners, QuadSource.PERSON, 1.0
    photo.save()
    for name in old:
        default_storage.delete(name)
    return photo


def photo_files(photo: Photo) -> list[str]:
    """Every stored file that belongs to a photo, its jobs' results included."""
    names = [f.name for f in (photo.original, photo.image, photo.thumbnail) if f]
    jobs = getattr(photo, "jobs", None)  # processing.Job, when that app is installed
    if jobs is not None:
        for job in jobs.all():
            names += job.result_files
    return names


def photo_delete(*, user: User, photo_id: int) -> None:
    """Delete a photo, its jobs and every file of theirs from storage. A result that is a new
    picture of the person's own (bring together) stays, without this photo among its inputs."""
    from processing.services import job_photo_release

    photo = Photo.objects.filter(owner=user, pk=photo_id).first()
    if photo is None:
        raise NotFound("No such photo.")
    with transaction.atomic():
        job_photo_release(photo=photo)
        names = photo_files(photo)
        photo.delete()
        transaction.on_commit(lambda: [default_storage.delete(n) for n in names])
    logger.info("photo deleted", extra={"photo_id": photo_id, "user_id": user.pk, "files": len(names)})


# --- S3: presigned POST straight from the browser --------------------------------------


def photo_presign(
    *,
    user: User,
    content_type: str,
    quad: object = None,
    source: str | None = None,
    name: str = "",
    queued_for: str | None = None,
) -> tuple[Photo, dict[str, Any]]:
    """A presigned POST whose policy fixes the key, the size limit, an image type and
    encryption at rest (a form without the encryption fields is refused by the store).
    ``queued_for`` as in ``photo_upload``."""
    if not settings.USE_S3:
        raise DomainError("Direct uploads need S3 storage; send the file to POST /api/v1/photos instead.")
    _check_queued_for(user=user, queued_for=queued_for)
    if not content_type.startswith("image/"):
        raise UnsupportedImage("This file isn't a photo we can use: upload a JPEG, PNG, HEIC or WebP image.")
    corners = parse_quad(quad)
    key = storage_key(user_id=user.pk, kind="originals", ext="upload")
    client = default_storage.connection.meta.client
    full_key = default_storage._normalize_name(key)  # the storage's location prefix, if any
    encryption = sse_post_fields()
    post = client.generate_presigned_post(
        Bucket=settings.AWS_STORAGE_BUCKET_NAME,
        Key=full_key,
        Fields={"Content-Type": content_type, **encryption},
        Conditions=[
            ["content-length-range", 1, settings.PHOTO_MAX_BYTES],
            ["starts-with", "$Content-Type", "image/"],
            {"key": full_key},
            *({field: value} for field, value in encryption.items()),
        ],
        ExpiresIn=settings.PHOTO_PRESIGN_EXPIRES_S,
    )
    photo = Photo.objects.create(
        owner=user,
        source=_source(source),
        original_name=name[:255],
        original=key,
        upload_completed=False,
        quad=corners,
        quad_source=QuadSource.PERSON if corners else QuadSource.NONE,
    )
    return photo, post


def _head(name: str, length: int = 64 * 1024) -> bytes:
    """The first bytes of a stored file, without downloading all of it from S3."""
    if settings.USE_S3:
        client = default_storage.connection.meta.client
        response = client.get_object(
            Bucket=settings.AWS_STORAGE_BUCKET_NAME,
            Key=default_storage._normalize_name(name),
            Range=f"bytes=0-{length - 1}",
        )
        return response["Body"].read()
    with default_storage.open(name, "rb") as fh:
        return fh.read(length)


def photo_complete(*, user: User, photo_id: int) -> Photo:
    """The browser says its direct upload finished: check the object (there, within the size
    limit, with an image signature), then preprocess. A refused object is deleted with its row."""
    photo = Photo.objects.filter(owner=user, pk=photo_id).first()
    if photo is None:
        raise NotFound("No such photo.")
    if photo.upload_completed:
        return photo  # completing twice is harmless
    name = photo.original.name
    if not name or not default_storage.exists(name):
        raise PhotoNotUploaded("We haven't received this photo yet: upload the file, then try again.")
    size = default_storage.size(name)
    try:
        check_size(size)
    except PhotoTooLarge:
        default_storage.delete(name)
        photo.delete()
        raise
    if not imaging.looks_like_image(_head(name)):
        default_storage.delete(name)
        photo.delete()
        raise UnsupportedImage("This file isn't a photo we can use: upload a JPEG, PNG, HEIC or WebP image.")
    photo.bytes, photo.upload_completed = size, True
    photo.save(update_fields=["bytes", "upload_completed", "updated_at"])
    transaction.on_commit(lambda: photo_enqueue_preprocess(photo=photo))
    return photo


def photo_abandon(*, user: User, photo_id: int) -> None:
    """The browser gives up on a direct upload (cancelled, or refused by the bucket): its
    row and any object go now rather than with the daily clean-up. A completed photo stays."""
    photo = Photo.objects.filter(owner=user, pk=photo_id, upload_completed=False).first()
    if photo is None:
        raise NotFound("No such upload in progress.")
    name = photo.original.name
    with transaction.atomic():
        photo.delete()
        if name:
            transaction.on_commit(lambda: default_storage.delete(name))
    logger.info("direct upload abandoned", extra={"photo_id": photo_id, "user_id": user.pk})


def photo_cleanup_abandoned() -> int:
    """Remove presigned uploads never completed within a day (row and any object)."""
    cutoff = timezone.now() - timedelta(seconds=settings.PHOTO_ABANDONED_AFTER_S)
    stale = Photo.objects.filter(upload_completed=False, created_at__lt=cutoff)
    count = 0
    for photo in stale:
        if photo.original:
            default_storage.delete(photo.original.name)
        photo.delete()
        count += 1
    if count:
        logger.info("abandoned uploads removed", extra={"count": count})
    return count
