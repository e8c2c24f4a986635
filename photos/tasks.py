"""Photo tasks: preprocessing after upload, and the clean-up of abandoned direct uploads."""

from __future__ import annotations

from celery import shared_task

from photos.services import photo_cleanup_abandoned, photo_preprocess, photo_reject

# Storage hiccups are worth a few retries; after that the photo is rejected, not stuck.
PREPROCESS_RETRIES = 3


@shared_task(bind=True, name="photos.preprocess", max_retries=PREPROCESS_RETRIES)
def photo_preprocess_task(self, photo_id: int) -> None:
    try:
        photo_preprocess(photo_id=photo_id)
    except Exception as exc:
        if self.request.retries >= PREPROCESS_RETRIES:
            photo_reject(photo_id=photo_id, message="We couldn't prepare this photo. Please upload it again.")
            return
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc


@shared_task(name="photos.cleanup_abandoned")
def photo_cleanup_abandoned_task() -> int:
    return photo_cleanup_abandoned()
