"""Job reads, always for one owner; queue positions and spend figures."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from processing.models import Job, JobStatus
from rekindle.exceptions import NotFound


def job_list_for_user(*, user: User) -> QuerySet[Job]:
    return Job.objects.filter(owner=user).select_related("photo").order_by("-queued_at")


def job_get_for_user(*, user: User, job_id: int) -> Job:
    job = Job.objects.filter(owner=user, pk=job_id).select_related("photo").first()
    if job is None:
        raise NotFound("No such job.")
    return job


def job_queue_position(*, job: Job) -> int | None:
    """1 for the next job to start; None once it is no longer waiting.

    Paid work is taken before free work, so a free job waits behind every queued paid job.
    """
    if job.status != JobStatus.QUEUED:
        return None
    queued = Job.objects.filter(status=JobStatus.QUEUED)
    ahead = queued.filter(queued_at__lt=job.queued_at)
    if job.tier == "free":
        ahead = ahead.filter(tier="free").count() + queued.exclude(tier="free").count()
    else:
        ahead = ahead.exclude(tier="free").count()
    return ahead + 1
