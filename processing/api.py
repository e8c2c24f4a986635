"""Jobs API: create (202, charged), list, get, cancel."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.pagination import PageNumberPagination, paginate
from pydantic import Field

from photos.storage import media_url
from processing.models import Job
from processing.selectors import job_ai_made, job_get_for_user, job_list_for_user, job_queue_position
from processing.services import InputRef, job_cancel, job_create

router = Router(tags=["jobs"])

ENGINE_LABELS = {
    "local": "Classical restoration (OpenCV) — not AI",
    "runpod": "AI restoration (Qwen-Image-Edit; animation: Wan 2.2)",
}


class JobIn(Schema):
    photo_id: int | None = Field(default=None, description="The photo to work on (or source_job_id)")
    source_job_id: int | None = Field(
        default=None, description="Animate: one of your finished picture results instead of a photo"
    )
    kind: str = Field(description="restore, colourize, restore_colourize or animate")
    options: dict[str, str] | None = Field(
        default=None,
        description=(
            "Animate: preset (subtle_life, smile, look_around, push_in) and an optional short "
            "description of the motion"
        ),
    )
    hints: str | None = Field(default=None, max_length=200, description="Optional colour description")
    keep_tone: bool | None = Field(
        default=None,
        description=(
            "Restore only: keep a toned (sepia) print's tone instead of correcting its colour cast. "
            "Left out, it is on for photos measured as toned; ignored (false) for kinds that colourize."
        ),
    )


class JobOut(Schema):
    id: int
    photo_id: int | None
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


@router.post("", response={202: JobOut}, summary="Start a job on one of your photos (charges credits)")
def create_job(request: HttpRequest, payload: JobIn) -> Status:
    inputs = [InputRef(job_id=payload.source_job_id)] if payload.source_job_id is not None else None
    return Status(
        202,
        job_create(
            user=request.user,
            photo_id=payload.photo_id,
            inputs=inputs,
            kind=payload.kind,
            hints=payload.hints,
            keep_tone=payload.keep_tone,
            options=payload.options,
        ),
    )


@router.get("", response=list[JobOut], summary="Your jobs, newest first")
@paginate(PageNumberPagination, page_size=20)
def list_jobs(request: HttpRequest) -> object:
    return job_list_for_user(user=request.user)


@router.get("/{job_id}", response=JobOut, summary="One of your jobs")
def get_job(request: HttpRequest, job_id: int) -> Job:
    return job_get_for_user(user=request.user, job_id=job_id)


@router.post("/{job_id}/cancel", response=JobOut, summary="Cancel a job (refunded if it has not started)")
def cancel_job(request: HttpRequest, job_id: int) -> Job:
    return job_cancel(user=request.user, job_id=job_id)
