"""Job reads, always for one owner; queue positions and spend figures."""

from __future__ import annotations

from django.db.models import Case, Count, QuerySet, Value, When

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


def job_list_running() -> QuerySet[Job]:
    """Every running job, oldest start first (for operators, not owners)."""
    return Job.objects.filter(status=JobStatus.RUNNING).select_related("owner").order_by("started_at")


def job_count_queued_by_tier_group() -> dict[str, dict[str, int]]:
    """Queued jobs per tier group: how many in all and how many wait on the daily budget."""
    counts = {group: {"queued": 0, "waiting": 0} for group in ("free", "paid")}
    for tier, waiting, total in (
        Job.objects.filter(status=JobStatus.QUEUED)
        .annotate(waiting=Case(When(waiting_reason="", then=Value(0)), default=Value(1)))
        .values_list("tier", "waiting")
        .annotate(total=Count("id"))
        .order_by()
    ):
        group = counts["free" if tier == "free" else "paid"]
        group["queued"] += total
        group["waiting"] += total if waiting else 0
    return counts


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
