"""Job reads, always for one owner; queue positions and spend figures.

The cost review figures at the end are the exception to "one owner": they are staff-only
aggregates over every job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import (
    Case,
    CharField,
    Count,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from photos.models import Photo, PhotoStatus
from photos.storage import media_url
from processing.kinds import ResultType, kind_specs
from processing.models import Job, JobInput, JobKind, JobStatus
from processing.services import InputRef, job_progress_key, pause_reason, spend_limit_for, spend_today
from rekindle.exceptions import NotFound


def job_list_for_user(*, user: User) -> QuerySet[Job]:
    return (
        Job.objects.filter(owner=user)
        .select_related("photo")
        .prefetch_related("inputs__photo", "inputs__source_job")
        .order_by("-queued_at")
    )


def job_get_for_user(*, user: User, job_id: int, with_inputs: bool = False) -> Job:
    """One of the person's jobs (someone else's is NotFound, like a missing one).

    This is what every open job page and API client polls every two seconds, so it is one
    narrow query: no join to the photo (read on its own only once the job has succeeded and
    its picture and file name are shown) and no ordering. ``with_inputs`` reads the ordered
    inputs too (the API lists them): a one-picture job's in the same query, a job of several's
    in one more (with their photos and source jobs, for their small pictures).
    """
    jobs = Job.objects.filter(owner=user, pk=job_id)
    if with_inputs:
        # A one-picture job's input is its photo, or the result it was made from: read in the
        # same query, so an API poll costs no more than before inputs existed.
        jobs = jobs.annotate(
            first_source_job_id=Subquery(
                JobInput.objects.filter(job=OuterRef("pk"), position=1).values("source_job_id")[:1]
            )
        )
    job = jobs.first()
    if job is None:
        raise NotFound("No such job.")
    if with_inputs and job.spec.takes_several:
        rows = JobInput.objects.select_related("photo", "source_job")
        prefetch_related_objects([job], Prefetch("inputs", queryset=rows))
    return job


def job_input_thumbnail_url(*, row: JobInput) -> str | None:
    """The small picture of one input: the source result's thumbnail, or the photo's. Jobs of
    one picture have none (it is the job's own photo, and every poll would sign a URL)."""
    if not row.job.spec.takes_several:
        return None
    if row.source_job is not None and row.source_job.result_thumbnail:
        return media_url(row.source_job.result_thumbnail.name)
    return media_url(row.photo.thumbnail.name) if row.photo.thumbnail else None


@dataclass(frozen=True)
class InputChoice:
    """One picture a person may choose as an input: a ready photo or a finished result."""

    value: str  # "photo-12" or "result-34", the form's checkbox value
    ref: InputRef
    label: str
    thumb: str | None


INPUT_CHOICES_MAX = 60


def input_choices_for_user(*, user: User, accepts_results: bool) -> list[InputChoice]:
    """What the person can choose from, newest first: their ready photos and, when the kind
    takes them, their finished picture results (people usually want the restored versions)."""
    photos = Photo.objects.filter(owner=user, status=PhotoStatus.READY).order_by("-created_at")
    choices = [
        InputChoice(
            value=f"photo-{photo.pk}",
            ref=InputRef(photo_id=photo.pk),
            label=f"{photo.original_name or 'Photo'} ({photo.created_at:%-d %b %Y})",
            thumb=media_url(photo.thumbnail.name) if photo.thumbnail else None,
        )
        for photo in photos[:INPUT_CHOICES_MAX]
    ]
    if accepts_results:
        image_kinds = [spec.value for spec in kind_specs() if spec.result is ResultType.IMAGE]
        results = (
            Job.objects.filter(owner=user, status=JobStatus.SUCCEEDED, kind__in=image_kinds)
            .exclude(result="")
            .exclude(photo__isnull=True)
            .order_by("-finished_at")
        )
        choices += [
            InputChoice(
                value=f"result-{job.pk}",
                ref=InputRef(job_id=job.pk),
                label=job.title,
                thumb=media_url(job.result_thumbnail.name) if job.result_thumbnail else None,
            )
            for job in results[:INPUT_CHOICES_MAX]
        ]
    return choices


def job_list_running() -> QuerySet[Job]:
    """Every running job, oldest start first (for operators, not owners)."""
    return Job.objects.filter(status=JobStatus.RUNNING).select_related("owner").order_by("started_at")


@dataclass(frozen=True)
class JobProgress:
    """A running job's progress as its page shows it: "Restoring… step 12 of 40"."""

    step: int
    steps: int
    verb: str

    @property
    def label(self) -> str:
        return f"{self.verb}… step {self.step} of {self.steps}"

    @property
    def percent(self) -> int:
        return round(100 * self.step / self.steps)


def job_progress(*, job: Job) -> JobProgress | None:
    """The engine's latest report for a running job (remote engines report per step)."""
    if job.status != JobStatus.RUNNING:
        return None
    stored = cache.get(job_progress_key(job.pk))
    if stored is None:
        return None
    step, steps = stored
    return JobProgress(step=step, steps=steps, verb=job.spec.progress_verb)


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
    One query (both counts in one pass over the queued jobs): every open job page asks this
    every two seconds.
    """
    if job.status != JobStatus.QUEUED:
        return None
    earlier = Q(queued_at__lt=job.queued_at)
    if job.tier == "free":
        ahead = Count("id", filter=(Q(tier="free") & earlier) | ~Q(tier="free"))
    else:
        ahead = Count("id", filter=~Q(tier="free") & earlier)
    return Job.objects.filter(status=JobStatus.QUEUED).aggregate(ahead=ahead)["ahead"] + 1


# ---------------------------------------------------------------------------------------
# Cost review (staff): spend by day, tier group, kind and person.
#
# A job's cost counts on the day it finished (``finished_at``, UTC), as for the daily limits
# in ``processing.services.spend_today``; jobs that never finished cost nothing yet. The window
# is "today and the days before it" in whole UTC days, so a day's figure never changes shape.

COST_WINDOW_DAYS = 30
TIER_GROUPS = ("free", "paid")


@dataclass(frozen=True)
class DaySpend:
    day: date
    free: Decimal
    paid: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.paid


@dataclass(frozen=True)
class KindCost:
    kind: str
    label: str
    jobs: int
    total: Decimal
    gpu_seconds: float

    @property
    def average(self) -> Decimal:
        return (self.total / self.jobs).quantize(Decimal("0.0001")) if self.jobs else Decimal("0")


@dataclass(frozen=True)
class UserCost:
    user_id: int
    email: str
    jobs: int
    total: Decimal


@dataclass(frozen=True)
class GroupLimit:
    group: str
    daily_limit: Decimal
    spent_today: Decimal
    paused_manually: bool
    # What people in this group are told while their work waits; None when it runs.
    pause_reason: str | None

    @property
    def percent(self) -> int | None:
        """Today's spend as a whole percentage of the limit (None for a zero limit)."""
        if self.daily_limit <= 0:
            return None
        return int(self.spent_today * 100 / self.daily_limit)

    @property
    def limit_reached(self) -> bool:
        return self.spent_today >= self.daily_limit


def cost_window_start(*, today: date | None = None, days: int = COST_WINDOW_DAYS) -> datetime:
    """Midnight (UTC) of the first day of a window of ``days`` days ending today."""
    today = today or timezone.now().date()
    first = today - timedelta(days=days - 1)
    return datetime.combine(first, time.min, tzinfo=UTC)


def _finished_in_window(today: date | None, days: int) -> QuerySet[Job]:
    start = cost_window_start(today=today, days=days)
    return Job.objects.filter(finished_at__gte=start, finished_at__lt=start + timedelta(days=days))


def _group_of_tier() -> Case:
    return Case(When(tier="free", then=Value("free")), default=Value("paid"), output_field=CharField())


def cost_spend_per_day(*, today: date | None = None, days: int = COST_WINDOW_DAYS) -> list[DaySpend]:
    """Spend per UTC day and tier group, oldest first, every day present (zero when idle)."""
    today = today or timezone.now().date()
    rows = (
        _finished_in_window(today, days)
        .annotate(day=TruncDate("finished_at", tzinfo=UTC), group=_group_of_tier())
        .values("day", "group")
        .annotate(total=Sum("cost"))
    )
    found = {(row["day"], row["group"]): row["total"] for row in rows}
    first = today - timedelta(days=days - 1)
    return [
        DaySpend(
            day=day,
            free=found.get((day, "free"), Decimal("0")),
            paid=found.get((day, "paid"), Decimal("0")),
        )
        for day in (first + timedelta(days=i) for i in range(days))
    ]


def cost_per_kind(*, today: date | None = None, days: int = COST_WINDOW_DAYS) -> list[KindCost]:
    """Finished jobs, their total cost and GPU seconds per kind, most expensive kind first."""
    rows = (
        _finished_in_window(today, days)
        .values("kind")
        .annotate(jobs=Count("id"), total=Sum("cost"), gpu=Sum("gpu_seconds"))
        .order_by("-total", "kind")
    )
    labels = dict(JobKind.choices)
    return [
        KindCost(
            kind=row["kind"],
            label=labels.get(row["kind"], row["kind"]),
            jobs=row["jobs"],
            total=row["total"] or Decimal("0"),
            gpu_seconds=row["gpu"] or 0.0,
        )
        for row in rows
    ]


def cost_top_users(
    *, today: date | None = None, days: int = COST_WINDOW_DAYS, limit: int = 10
) -> list[UserCost]:
    """The people whose finished jobs cost the most in the window (ties: more jobs, then email)."""
    rows = (
        _finished_in_window(today, days)
        .values("owner_id", "owner__email")
        .annotate(jobs=Count("id"), total=Sum("cost"))
        .order_by("-total", "-jobs", "owner__email")[:limit]
    )
    return [
        UserCost(user_id=row["owner_id"], email=row["owner__email"], jobs=row["jobs"], total=row["total"])
        for row in rows
    ]


def cost_group_limits() -> list[GroupLimit]:
    """Each tier group's daily limit, today's spend and whether (and why) its work is paused."""
    result = []
    for group in TIER_GROUPS:
        limit = spend_limit_for(group)
        result.append(
            GroupLimit(
                group=group,
                daily_limit=limit.daily_limit,
                spent_today=spend_today(group),
                paused_manually=limit.paused_manually,
                pause_reason=pause_reason(group),
            )
        )
    return result


def job_ai_made(*, job: Job) -> bool:
    """Whether a model made the job's result (its engine is generative): such results carry the
    IPTC trained-algorithmic-media marker and say "with AI" in words; the local engine's say
    "not AI"."""
    from processing.engines.base import EngineError, engine_class

    try:
        return bool(getattr(engine_class(job.engine), "generative", False))
    except EngineError:
        return False
