"""Helpers for the GDPR tests: a person with photos, results, a queued job and records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from accounts.models import User
from photos.models import Photo
from photos.services import photo_preprocess, photo_upload
from processing import services as processing_services
from processing.models import Job, ShareLink
from processing.services import job_create, job_run
from processing.sharing import share_create
from tests.photos import images


def ready_photo(user: User, size: tuple[int, int] = (640, 480)) -> Photo:
    upload = SimpleUploadedFile("grandma.jpg", images.jpeg(images.photo(size)), content_type="image/jpeg")
    photo = photo_upload(user=user, file=upload, size=upload.size, name="grandma.jpg")
    return photo_preprocess(photo_id=photo.pk)


@dataclass
class Library:
    photos: list[Photo]
    finished: Job
    queued: Job
    share: ShareLink


def make_library(user: User, monkeypatch: pytest.MonkeyPatch, credits: int = 10) -> Library:
    """Two ready photos, one finished restore (shared), one queued restore (credits charged)."""
    if credits:
        from credits.services import credits_grant

        credits_grant(user=user, amount=credits, key=f"test:{user.pk}:extra", reason="test credits")
    monkeypatch.setattr(processing_services, "job_enqueue", lambda *, job, countdown=None: None)
    photos = [ready_photo(user), ready_photo(user, (480, 640))]
    finished = job_create(user=user, photo_id=photos[0].pk, kind="restore")
    job_run(job_id=finished.pk)
    finished.refresh_from_db()
    queued = job_create(user=user, photo_id=photos[1].pk, kind="restore")
    share = share_create(user=user, job_id=finished.pk)
    return Library(photos=photos, finished=finished, queued=queued, share=share)


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def owned_by(names: set[str] | list[str], user_id: int) -> set[str]:
    """Storage names in a person's folders ("<kind>/<user id>/...")."""
    return {n for n in names if n.split("/")[1:2] == [str(user_id)]}


def tables_containing(text: str) -> list[str]:
    """Every table with a row whose text form contains ``text`` (PostgreSQL: ``row::text``)."""
    hits = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            # Table names come from the database itself, quoted by the backend.
            query = f"SELECT count(*) FROM {connection.ops.quote_name(table)} t WHERE t::text ILIKE %s"  # noqa: S608
            cursor.execute(query, [f"%{text}%"])
            if cursor.fetchone()[0]:
                hits.append(table)
    return hits
