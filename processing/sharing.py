"""Share links: made by a result's owner, public until they expire or are revoked."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from processing.models import Job, JobStatus, ShareLink
from rekindle.exceptions import DomainError, NotFound

logger = logging.getLogger(__name__)


class ShareGone(NotFound):
    """Expired or revoked: said plainly, with the same 404 as a link that never existed."""


def share_create(*, user: User, job_id: int, days: int | None = None) -> ShareLink:
    job = Job.objects.filter(owner=user, pk=job_id).first()
    if job is None:
        raise NotFound("No such job.")
    if job.status != JobStatus.SUCCEEDED:
        raise DomainError("Only a finished result can be shared.")
    days = days or settings.SHARE_LINK_DAYS
    if not 1 <= days <= 30:
        raise DomainError("A share link can last from 1 to 30 days.")
    from processing.moderation import report_flag_removed_before  # moderation reads share links

    with transaction.atomic():
        link = ShareLink.objects.create(
            job=job, token=secrets.token_urlsafe(32), expires_at=timezone.now() + timedelta(days=days)
        )
        report_flag_removed_before(link=link)
    logger.info("share link created", extra={"job_id_field": job.pk, "user_id": user.pk, "days": days})
    return link


def share_revoke(*, user: User, share_id: int) -> ShareLink:
    link = ShareLink.objects.filter(job__owner=user, pk=share_id).first()
    if link is None:
        raise NotFound("No such share link.")
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        logger.info("share link revoked", extra={"job_id_field": link.job_id, "user_id": user.pk})
    return link


def share_get_public(*, token: str) -> ShareLink:
    link = ShareLink.objects.select_related("job", "job__photo").filter(token=token).first()
    if link is None:
        raise NotFound("This share link does not exist.")
    if link.revoked_at is not None:
        raise ShareGone("The owner has stopped sharing this picture.")
    if link.expires_at <= timezone.now():
        raise ShareGone("This share link has expired.")
    if link.job.status != JobStatus.SUCCEEDED or not link.job.result:
        raise ShareGone("This picture is no longer available.")
    return link


def share_list_for_job(*, user: User, job: Job) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(
        job=job, job__owner=user, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )
