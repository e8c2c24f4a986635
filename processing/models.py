"""Processing: a job turns its input pictures (one ready photo for most kinds) into a result
through an engine. What each kind takes and makes is described once in ``processing.kinds``.

Status moves only forward (queued → running → succeeded | failed | cancelled); the allowed
moves are in ``TRANSITIONS`` and only ``processing.services.job_transition`` applies them.
``SpendLimit`` holds each tier's daily GPU budget and whether its new work is paused.
``Report`` and ``ModerationAction`` are the moderation queue and its record of who did what.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import PurePath
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.text import slugify

if TYPE_CHECKING:
    from processing.kinds import KindSpec


class JobKind(models.TextChoices):
    RESTORE = "restore", "Restore"
    COLOURIZE = "colourize", "Colourize"
    RESTORE_COLOURIZE = "restore_colourize", "Restore + colourize"
    ANIMATE = "animate", "Animate"
    BRING_TOGETHER = "bring_together", "Bring together"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

TRANSITIONS: dict[str, frozenset[str]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


class Job(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    # The photo the job belongs to in the library: its only input for single-photo kinds, the
    # first input's photo otherwise. Deleting it deletes the job, except for kinds whose result
    # is a new picture of its own (``KindSpec.result_outlives_inputs``): those let go of it
    # (``photo`` becomes empty) and keep the result. The ordered inputs are ``inputs``.
    photo = models.ForeignKey(
        "photos.Photo", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    kind = models.CharField(max_length=32, choices=JobKind.choices)
    # The person's choices for kinds that take them (``KindSpec``): "preset", "description",
    # "colour". Validated against the kind's description when the job is made.
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    # Optional colour description ("blue dress, red brick house") for engines that use it.
    hints = models.CharField(max_length=200, blank=True)
    # "Keep the original tone": restoring leaves a toned (sepia) print's tone as it is instead
    # of correcting the cast. Only for kinds that do not colourize (False for those).
    keep_tone = models.BooleanField(default=False)

    credits_charged = models.PositiveIntegerField()
    # Fixed when the job is made: an upgrade improves later jobs, not this one.
    tier = models.CharField(max_length=32)
    max_width = models.PositiveIntegerField()
    max_height = models.PositiveIntegerField()

    engine = models.CharField(max_length=32)
    # The engine's own id (RunPod job id), saved before polling so a retry resumes it.
    external_id = models.CharField(max_length=128, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Liveness (see processing.services, "Leases"): which worker process holds the job, the
    # lease token of the run that may finish it (empty: reserved or nobody's), when a worker
    # took the message, and the last proof the holder is alive. The sweeper re-sends a job
    # whose heartbeat is older than JOB_HEARTBEAT_STALE_S.
    worker = models.CharField(max_length=200, blank=True)
    lease = models.CharField(max_length=32, blank=True)
    reserved_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    quality_retries = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    # Why a queued job is waiting, when it is not just the line (e.g. the daily budget).
    waiting_reason = models.CharField(max_length=200, blank=True)
    notes = models.JSONField(default=list, blank=True)

    result = models.FileField(upload_to="results/", blank=True)
    result_thumbnail = models.FileField(upload_to="results/", blank=True)
    # A video result's first frame at full size (the <video> poster and the share preview).
    result_poster = models.FileField(upload_to="results/", blank=True)
    result_width = models.PositiveIntegerField(null=True, blank=True)
    result_height = models.PositiveIntegerField(null=True, blank=True)

    cpu_seconds = models.FloatField(default=0.0)
    gpu_seconds = models.FloatField(default=0.0)
    cost = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))

    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [
            models.Index(fields=["owner", "-queued_at"]),
            models.Index(fields=["status", "updated_at"]),
            models.Index(fields=["tier", "finished_at"]),
            # The sweeper's liveness query, every few seconds: open jobs by heartbeat age.
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(credits_charged__gte=0), name="job_credits_non_negative"
            ),
            models.CheckConstraint(condition=models.Q(cost__gte=0), name="job_cost_non_negative"),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk} ({self.kind}, {self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def spec(self) -> KindSpec:
        """The description of this job's kind (``processing.kinds``)."""
        from processing.kinds import kind_spec

        return kind_spec(self.kind)

    def input_list(self) -> list[JobInput]:
        """The job's input pictures in order; a job made before inputs existed has one, its photo
        (an unsaved row). Uses a prefetched ``inputs``, or a one-picture job's input read with it
        (``first_source_job_id``), when there is one."""
        if hasattr(self, "first_source_job_id") and not self.spec.takes_several:
            # Read with the job (processing.selectors.job_get_for_user): no query.
            if self.photo_id is None:
                return []
            return [
                JobInput(job=self, position=1, photo_id=self.photo_id, source_job_id=self.first_source_job_id)
            ]
        rows = list(self.inputs.all())
        if rows or self.photo_id is None:
            return rows
        return [JobInput(job=self, position=1, photo_id=self.photo_id)]

    @property
    def is_video(self) -> bool:
        """Whether the job's kind makes a video (``KindSpec.result``), not a picture."""
        from processing.kinds import ResultType

        return self.spec.result is ResultType.VIDEO

    @property
    def result_files(self) -> list[str]:
        """The names of every stored file of the result: it, its thumbnail, a video's poster."""
        return [f.name for f in (self.result, self.result_thumbnail, self.result_poster) if f]

    @property
    def result_picture_name(self) -> str:
        """A still picture of the result: the picture itself, or a video's poster frame."""
        return (self.result_poster or self.result).name

    @property
    def result_export_name(self) -> str:
        """The result's name in a data export: "results/<id>.jpg" or "results/<id>.mp4"."""
        return f"results/{self.pk}.{self.spec.result.extension}"

    @property
    def done_word(self) -> str:
        """What the job makes, as a finished thing: "Restored", "Restored and colourized"."""
        return self.spec.done_word

    @property
    def title(self) -> str:
        """The job's name on every page and email: "Restored — 30 Nov" once it has succeeded,
        "Restore + colourize — 30 Nov" while it waits or when it failed (never a global number)."""
        when = timezone.localtime(self.finished_at or self.queued_at or timezone.now())
        day = (
            f"{when.day} {when:%b}" if when.year == timezone.localtime().year else f"{when.day} {when:%b %Y}"
        )
        word = self.done_word if self.status == JobStatus.SUCCEEDED else self.get_kind_display()
        return f"{word} — {day}"

    @property
    def download_name(self) -> str:
        """The result's file name: the photo's own name and the kind ("grandma-1952-restored.jpg"),
        in plain ASCII so every browser and S3 keep it; "photo-restored.jpg" when nothing is left."""
        name = self.photo.original_name if self.photo else ""
        stem = slugify(PurePath(name or "").stem)[:60].strip("-_") or "photo"
        return f"{stem}-{slugify(self.done_word.replace(' and ', ' '))}.{self.spec.result.extension}"


class JobInput(models.Model):
    """One input picture of a job, in order (``position`` from 1): a ready photo, or the finished
    result of another job of the same person (``source_job``; ``photo`` is then that job's photo).

    Deleting the photo or the source job removes the row; the job itself follows the rule on
    ``Job.photo``. Jobs made before inputs existed have no rows: their one input is ``Job.photo``.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="inputs")
    position = models.PositiveSmallIntegerField()
    photo = models.ForeignKey("photos.Photo", on_delete=models.CASCADE, related_name="job_inputs")
    source_job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.CASCADE, related_name="used_as_input"
    )

    class Meta:
        ordering = ["job", "position"]
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="job_input_position_unique"),
        ]

    def __str__(self) -> str:
        return f"Input {self.position} of job {self.job_id}"


class SpendLimit(models.Model):
    """A tier group's daily engine budget ("free" or "paid") and whether it is paused."""

    tier_group = models.CharField(max_length=16, unique=True)
    daily_limit = models.DecimalField(max_digits=10, decimal_places=2)
    # Paused by hand in the admin, or automatically when today's spend reaches the limit.
    paused_manually = models.BooleanField(default=False)
    # The day an alert was last sent at 80% / 100%, so each goes out once a day.
    alerted_80_on = models.DateField(null=True, blank=True)
    alerted_100_on = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.tier_group}: ${self.daily_limit}/day"


class ShareLink(models.Model):
    """A public, expiring, revocable link to one finished job's before/after."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="share_links")
    # 32 random bytes: the link itself is the secret, so it cannot be guessed or enumerated.
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Share of job {self.job_id}"


class ReportReason(models.TextChoices):
    NOT_MINE = "not_mine", "This is my photo and I did not agree to it being shared"
    OFFENSIVE = "offensive", "Offensive or harmful content"
    ILLEGAL = "illegal", "Illegal content"
    OTHER = "other", "Something else"
    # Automatic flags only (never offered on a form): the same file as content moderation removed.
    REMOVED_BEFORE = "removed_before", "Same file as content removed before"


# What a person may choose on the report forms.
PERSON_REASONS = [
    (value, label) for value, label in ReportReason.choices if value != ReportReason.REMOVED_BEFORE
]


class ReportSource(models.TextChoices):
    PERSON = "person", "A person"
    AUTOMATIC = "automatic", "Automatic flag"


class ReportStatus(models.TextChoices):
    OPEN = "open", "Open"
    DISMISSED = "dismissed", "Dismissed"
    REMOVED = "removed", "Content removed"
    SUSPENDED = "suspended", "Owner suspended"


class Report(models.Model):
    """Someone's report on a shared result (from the share page) or a photo (from the library).

    The content links are SET_NULL so a report outlives the content it got removed; ``owner``
    keeps who the content belonged to, for the owner's other reports and for suspension.
    """

    share_link = models.ForeignKey(
        ShareLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="reports")
    photo = models.ForeignKey(
        "photos.Photo", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports_against",
    )
    reason = models.CharField(max_length=16, choices=ReportReason.choices)
    note = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=16, choices=ReportSource.choices, default=ReportSource.PERSON)
    # The reported photo's upload hash, kept after removal so the same file is flagged again.
    content_hash = models.CharField(max_length=64, blank=True, db_index=True)
    # Empty when reported from the public share page by someone not signed in.
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports_made",
    )
    status = models.CharField(max_length=16, choices=ReportStatus.choices, default=ReportStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["owner", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"Report {self.pk} ({self.get_reason_display()}, {self.status})"


class ModerationActionKind(models.TextChoices):
    DISMISS = "dismiss", "Dismissed report"
    REMOVE = "remove", "Removed content"
    SUSPEND = "suspend", "Suspended account"
    UNSUSPEND = "unsuspend", "Lifted suspension"


class ModerationAction(models.Model):
    """Insert-only record of every moderation action: who, when, on what."""

    kind = models.CharField(max_length=16, choices=ModerationActionKind.choices)
    report = models.ForeignKey(
        Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions"
    )
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="moderation_actions",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor_id} at {self.created_at:%Y-%m-%d %H:%M}"
