"""Jobs API: create (202, charged), list, get, cancel."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.pagination import PageNumberPagination, paginate
from pydantic import Field

from photos.storage import media_url
from processing.models import Job, JobInput
from processing.selectors import (
    JobProgress,
    job_ai_made,
    job_get_for_user,
    job_input_thumbnail_url,
    job_list_for_user,
    job_progress,
    job_queue_position,
)
from processing.services import InputRef, job_cancel, job_create

router = Router(tags=["jobs"])

ENGINE_LABELS = {
    "local": "Classical restoration (OpenCV) — not AI",
    "runpod": "AI restoration (Qwen-Image-Edit; animation: Wan 2.2)",
}


class JobIn(Schema):
    photo_id: int | None = Field(default=None, description="The photo, for kinds that take one")
    photo_ids: list[int] | None = Field(
        default=None,
        max_length=10,
        description="bring_together: two or three of your photos, in order (picture 1, 2, 3)",
    )
    source_job_id: int | None = Field(
        default=None, description="Animate: one of your finished picture results instead of a photo"
    )
    kind: str = Field(description="restore, colourize, restore_colourize, animate or bring_together")
    options: dict[str, str] | None = Field(
        default=None,
        description=(
            "The kind's choices: preset (animate: subtle_life, smile, look_around, push_in; "
            "bring_together: side_by_side, sofa, family_table, garden), description (short, in "
            "your own words), colour (bring_together: colour or black_and_white)"
        ),
    )
    setting: str | None = Field(
        default=None,
        description="bring_together: side_by_side (default), sofa, family_table or garden (= options.preset)",
    )
    description: str | None = Field(
        default=None, max_length=1000, description="The setting or motion in your own words (short)"
    )
    colour: str | None = Field(
        default=None, description="bring_together: colour (default) or black_and_white"
    )
    hints: str | None = Field(default=None, max_length=200, description="Optional colour description")
    keep_tone: bool | None = Field(
        default=None,
        description=(
            "Restore only: keep a toned (sepia) print's tone instead of correcting its colour cast. "
            "Left out, it is on for photos measured as toned; ignored (false) for kinds that colourize."
        ),
    )


class JobInputOut(Schema):
    position: int
    photo_id: int
    # Set when the input is the finished result of another of your jobs.
    source_job_id: int | None
    # The input's small picture, for jobs of several pictures (null for one-picture jobs).
    thumbnail_url: str | None

    @staticmethod
    def resolve_thumbnail_url(row: JobInput) -> str | None:
        return job_input_thumbnail_url(row=row)


class JobOut(Schema):
    id: int
    # The photo the job belongs to; empty for a bring-together result whose photos were deleted.
    photo_id: int | None
    inputs: list[JobInputOut]
    options: dict[str, str]
    kind: str
    status: str
    engine: str
    engine_label: str
    credits_charged: int
    tier: str
    max_width: int
    max_height: int
    hints: str
    keep_tone: bool
    queue_position: int | None
    waiting_reason: str
    error_code: str
    error_message: str
    notes: list[str]
    result_url: str | None
    result_thumbnail_url: str | None
    result_width: int | None
    result_height: int | None
    result_type: str
    result_poster_url: str | None
    ai_made: bool
    options: dict[str, str]
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_inputs(job: Job) -> list[JobInput]:
        return job.input_list()

    @staticmethod
    def resolve_engine_label(job: Job) -> str:
        return ENGINE_LABELS.get(job.engine, job.engine)

    @staticmethod
    def resolve_queue_position(job: Job) -> int | None:
        return job_queue_position(job=job)

    @staticmethod
    def resolve_result_url(job: Job) -> str | None:
        return media_url(job.result.name, download_name=job.download_name) if job.result else None

    @staticmethod
    def resolve_result_type(job: Job) -> str:
        return job.spec.result.word

    @staticmethod
    def resolve_result_poster_url(job: Job) -> str | None:
        return media_url(job.result_poster.name) if job.result_poster else None

    @staticmethod
    def resolve_ai_made(job: Job) -> bool:
        return job_ai_made(job=job)

    @staticmethod
    def resolve_result_thumbnail_url(job: Job) -> str | None:
        return media_url(job.result_thumbnail.name) if job.result_thumbnail else None


@router.post("", response={202: JobOut}, summary="Start a job on your photos (charges credits)")
def create_job(request: HttpRequest, payload: JobIn) -> Status:
    given = {"preset": payload.setting, "description": payload.description, "colour": payload.colour}
    options = {**(payload.options or {}), **{key: value for key, value in given.items() if value is not None}}
    if payload.source_job_id is not None:
        inputs = [InputRef(job_id=payload.source_job_id)]
    elif payload.photo_ids is not None:
        inputs = [InputRef(photo_id=pk) for pk in payload.photo_ids]
    else:
        inputs = None
    return Status(
        202,
        job_create(
            user=request.user,
            kind=payload.kind,
            photo_id=payload.photo_id,
            inputs=inputs,
            hints=payload.hints,
            keep_tone=payload.keep_tone,
            options=options,
        ),
    )


@router.get("", response=list[JobOut], summary="Your jobs, newest first")
@paginate(PageNumberPagination, page_size=20)
def list_jobs(request: HttpRequest) -> object:
    return job_list_for_user(user=request.user)


@router.get("/{job_id}", response=JobOut, summary="One of your jobs")
def get_job(request: HttpRequest, job_id: int) -> Job:
    return job_get_for_user(user=request.user, job_id=job_id, with_inputs=True)


class JobProgressOut(Schema):
    step: int
    steps: int


class JobStatusOut(Schema):
    """What a client polls while it waits: the job's state and nothing to sign or join.
    ``GET /jobs/{id}`` has the whole job (results, inputs, options) once it has finished."""

    id: int
    status: str
    queue_position: int | None
    waiting_reason: str
    progress: JobProgressOut | None
    error_code: str
    error_message: str

    @staticmethod
    def resolve_queue_position(job: Job) -> int | None:
        return job_queue_position(job=job)

    @staticmethod
    def resolve_progress(job: Job) -> JobProgress | None:
        return job_progress(job=job)


@router.get("/{job_id}/status", response=JobStatusOut, summary="One of your jobs' state, for polling")
def get_job_status(request: HttpRequest, job_id: int) -> Job:
    return job_get_for_user(user=request.user, job_id=job_id)


@router.post("/{job_id}/cancel", response=JobOut, summary="Cancel a job (refunded if it has not started)")
def cancel_job(request: HttpRequest, job_id: int) -> Job:
    return job_cancel(user=request.user, job_id=job_id)
