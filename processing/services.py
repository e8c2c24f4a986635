"""Job writes: create (and charge), run through an engine, fail (and refund), cancel, sweep.

Every status change goes through ``job_transition``, which locks the row, checks the move
against ``TRANSITIONS``, stamps the times and logs one line. Credits change only through the
credits services, inside the same transaction as the job change they belong to.

Leases make a job finish once however often it is delivered: starting a job takes a fresh
lease token; only the run holding it may finish, fail, submit or forget a remote job, and it
proves it is alive with a heartbeat. The sweeper takes the lease back from a silent holder
and re-sends the job; a holder that wakes up later finds its lease gone and keeps nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import mail_admins, send_mail
from django.db import connection, transaction
from django.db.models import Prefetch, Q, Sum, prefetch_related_objects
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from accounts.models import User
from credits.models import CreditTransaction
from credits.selectors import user_tier
from credits.services import credits_charge, credits_refund
from photos import imaging
from photos.models import Photo
from photos.selectors import photo_get_for_user, photo_is_toned
from photos.storage import media_url
from processing.engines.base import (
    EngineProgress,
    EngineRequest,
    EngineResult,
    PermanentEngineError,
    TransientEngineError,
    get_engine,
)
from processing.engines.disclosure import encode_jpeg
from processing.kinds import KIND_SPECS, KindSpec, ResultType, kind_offer, kinds_offered
from processing.models import FINAL_STATUSES, TRANSITIONS, Job, JobInput, JobKind, JobStatus, SpendLimit
from processing.quality import QualityCheckFailed
from processing.worker import holder as this_holder
from processing.worker import holder_is_dead
from rekindle.celery import queue_for_tier
from rekindle.exceptions import DomainError, EmailUnconfirmed, InvalidTransition, NotFound
from rekindle.logging import job_id_var

logger = logging.getLogger(__name__)


class UnknownKind(DomainError):
    code = "unknown_kind"
    status = 422


class KindRequired(DomainError):
    """Nothing was chosen (a form posted with no kind selected)."""

    code = "kind_required"
    status = 400


class KindUnavailable(DomainError):
    """A real kind that this server's engine does not really perform: refused, never charged."""

    code = "kind_unavailable"
    status = 422


class AccountSuspended(DomainError):
    code = "account_suspended"
    status = 403


class PhotoNotReady(DomainError):
    code = "photo_not_ready"
    status = 409


class JobAlreadyFinished(InvalidTransition):
    code = "job_finished"


class JobGone(InvalidTransition):
    """The job was deleted meanwhile (with its photo or its owner's account)."""

    code = "job_gone"


class LeaseLost(InvalidTransition):
    """Another run holds this job now (this one was presumed dead): it must keep nothing."""

    code = "lease_lost"


# ---------------------------------------------------------------------------------------
# Sizes and tiers


def size_cap_for_tier(tier: str) -> tuple[int, int]:
    """Free jobs fit 854×480, paid jobs 1280×720 (either orientation)."""
    return tuple(settings.JOB_SIZE_CAP_FREE if tier == "free" else settings.JOB_SIZE_CAP_PAID)  # type: ignore[return-value]


def tier_group(tier: str) -> str:
    return "free" if tier == "free" else "paid"


def clean_hints(hints: str | None) -> str:
    """Plain, short text: control and formatting characters go, whitespace collapses."""
    if not hints:
        return ""
    kept = "".join(ch for ch in hints if unicodedata.category(ch)[0] != "C")
    text = " ".join(kept.split())
    if len(text) > settings.JOB_HINTS_MAX_LENGTH:
        raise DomainError(
            f"Colour hints can be at most {settings.JOB_HINTS_MAX_LENGTH} characters.",
            max_length=settings.JOB_HINTS_MAX_LENGTH,
        )
    return text


# ---------------------------------------------------------------------------------------
# Create


@dataclass(frozen=True)
class InputRef:
    """One input picture a person chose: a photo of theirs, or the finished result of one of
    their jobs (``job_id``)."""

    photo_id: int | None = None
    job_id: int | None = None


class InvalidInput(DomainError):
    """An input picture that cannot be used (``details['input']`` says which, from 1)."""

    code = "invalid_input"
    status = 422


class InvalidOption(DomainError):
    code = "invalid_option"
    status = 422


def _input_resolve(*, user: User, spec: KindSpec, ref: InputRef, position: int) -> tuple[Photo, Job | None]:
    """The photo (and source job) behind one chosen input, locked checks included; someone
    else's photo or job is NotFound, exactly as one that never existed."""
    which = f"Picture {position}" if spec.takes_several else "This photo"
    if ref.job_id is not None:
        if not spec.accepts_results:
            raise InvalidInput(f"{which}: “{spec.label}” works on photos, not on results.", input=position)
        source = Job.objects.filter(owner=user, pk=ref.job_id).select_related("photo").first()
        if source is None:
            raise NotFound(f"{which}: no such result.", input=position)
        if source.status != JobStatus.SUCCEEDED or not source.result or source.photo is None:
            raise InvalidInput(f"{which}: that result is not finished.", input=position)
        if source.spec.result is not ResultType.IMAGE:
            raise InvalidInput(f"{which}: only a picture can be used, not a video.", input=position)
        return source.photo, source
    try:
        photo = photo_get_for_user(user=user, photo_id=int(ref.photo_id or 0))
    except NotFound as exc:
        raise NotFound(f"{which}: no such photo.", input=position) from exc
    if photo.status != "ready":
        raise PhotoNotReady(
            f"{which} is not ready yet: wait until it has been prepared, or upload it again.",
            photo_status=photo.status,
            input=position,
        )
    return photo, None


def job_options_clean(*, spec: KindSpec, options: dict[str, Any] | None) -> dict[str, str]:
    """The person's options for ``spec``, checked: a known preset, a short plain description,
    colour or black and white. Options the kind does not take are refused, not ignored."""
    options = {k: v for k, v in (options or {}).items() if v not in (None, "")}
    cleaned: dict[str, str] = {}
    preset = options.pop("preset", None)
    if preset is not None:
        if spec.preset(str(preset)) is None:
            choices = ", ".join(p.key for p in spec.presets) or "none"
            raise InvalidOption(
                f"Unknown choice “{preset}” for {spec.label.lower()}. Choose one of: {choices}.",
                option="preset",
            )
        cleaned["preset"] = str(preset)
    elif spec.presets:
        cleaned["preset"] = spec.presets[0].key
    description = options.pop("description", None)
    if description is not None:
        if not spec.description_max:
            raise InvalidOption(f"“{spec.label}” takes no description.", option="description")
        text = " ".join("".join(ch for ch in str(description) if unicodedata.category(ch)[0] != "C").split())
        if len(text) > spec.description_max:
            raise InvalidOption(
                f"The description can be at most {spec.description_max} characters.",
                option="description",
                max_length=spec.description_max,
            )
        if text:
            cleaned["description"] = text
    colour = options.pop("colour", None)
    if colour is not None:
        if not spec.colour_choice or colour not in COLOUR_CHOICES:
            raise InvalidOption(
                "Choose colour or black and white."
                if spec.colour_choice
                else f"“{spec.label}” has no colour choice.",
                option="colour",
            )
        cleaned["colour"] = str(colour)
    elif spec.colour_choice:
        cleaned["colour"] = COLOUR_CHOICES[0]
    if options:
        raise InvalidOption(f"Unknown option: {', '.join(sorted(options))}.", option=sorted(options)[0])
    return cleaned


# The colour choice of kinds that make a new picture.
COLOUR_CHOICES = ("colour", "black_and_white")


def job_create(
    *,
    user: User,
    kind: str,
    photo_id: int | None = None,
    inputs: list[InputRef] | None = None,
    hints: str | None = None,
    keep_tone: bool | None = None,
    options: dict[str, Any] | None = None,
) -> Job:
    """Charge the price and queue the job, atomically; the task is sent after commit.

    The inputs are ``inputs`` in order, or the one photo ``photo_id``; how many a kind takes,
    and whether finished results may be among them, is in its ``KindSpec``. ``options`` are the
    kind's choices (preset, description, colour), checked against the spec.

    ``keep_tone`` ("keep the original tone") applies to kinds that do not colourize; left
    out (None), it is on for a toned print (``photo_is_toned``) and off otherwise. Kinds that
    colourize always store False: colour replaces the tone.
    """
    if not user.is_active:
        raise AccountSuspended("This account is suspended, so it cannot start new jobs.")
    if not user.email_confirmed:
        # Until the address is proven, an account is anybody's: no GPU time on it.
        raise EmailUnconfirmed()
    if not kind:
        raise KindRequired("Choose what to do with this photo.")
    if kind not in KIND_SPECS:
        offered = ", ".join(KIND_SPECS)
        raise UnknownKind(f"Unknown kind “{kind}”. Choose one of: {offered}.", offered=offered)
    offer = kind_offer(kind=kind)
    if offer is None or not offer.available:
        # The kinds of the same shape (one photo, or several) that can be chosen instead.
        shape = None if offer is None else not offer.spec.takes_several
        available = ", ".join(o.value for o in kinds_offered(single_photo=shape) if o.available)
        raise KindUnavailable(
            f"“{JobKind(kind).label}” is not offered here, and nothing was charged. "
            f"{offer.reason if offer else ''} Choose one of: {available}.",
            kind=kind,
            available=available,
        )
    spec = offer.spec
    refs = list(inputs) if inputs is not None else [InputRef(photo_id=photo_id)]
    fewest, most = spec.inputs
    if len(refs) < fewest:
        raise InvalidInput(f"Choose at least {fewest} photos for “{spec.label}”.", fewest=fewest)
    if len(refs) > most:
        raise InvalidInput(f"Choose at most {most} photos for “{spec.label}”.", most=most)
    seen: set[InputRef] = set()
    for position, ref in enumerate(refs, start=1):
        if ref in seen:
            raise InvalidInput(
                f"Picture {position} is chosen twice; choose different photos.", input=position
            )
        seen.add(ref)
    hints = clean_hints(hints)
    cleaned_options = job_options_clean(spec=spec, options=options)
    price = spec.price
    tier = user_tier(user=user)
    width, height = size_cap_for_tier(tier)
    with transaction.atomic():
        resolved = [
            _input_resolve(user=user, spec=spec, ref=ref, position=position)
            for position, ref in enumerate(refs, start=1)
        ]
        photo = resolved[0][0]
        if spec.colourizes:
            keep_tone = False
        elif keep_tone is None:
            keep_tone = photo_is_toned(photo=photo)
        job = Job.objects.create(
            owner=user,
            photo=photo,
            kind=kind,
            hints=hints,
            keep_tone=bool(keep_tone),
            options=cleaned_options,
            credits_charged=price,
            tier=tier,
            max_width=width,
            max_height=height,
            engine=settings.ENGINE,
        )
        JobInput.objects.bulk_create(
            JobInput(job=job, position=position, photo=input_photo, source_job=source)
            for position, (input_photo, source) in enumerate(resolved, start=1)
        )
        # The credits history names the job in words, with the photo's own name where it has one.
        named = f": {photo.original_name}" if photo.original_name else ""
        credits_charge(user=user, amount=price, job_id=job.pk, reason=f"{spec.label}{named}")
        transaction.on_commit(lambda: job_enqueue(job=job))
    _log(job, "job created", credits=price)
    return job


def job_photo_release(*, photo: Photo) -> list[int]:
    """Before ``photo`` is deleted: jobs whose result is a new picture of the person's own
    (``KindSpec.result_outlives_inputs``) and that belong to it let go of it, so the cascade
    leaves them (and their result files) alone. Each such job then belongs to another of its
    remaining input photos, or to none. Their input rows of this photo go with the photo.
    Returns the ids of the jobs kept."""
    outliving = [spec.value for spec in KIND_SPECS.values() if spec.result_outlives_inputs]
    kept = []
    for job in Job.objects.select_for_update().filter(photo=photo, kind__in=outliving):
        others = job.inputs.exclude(photo=photo).order_by("position")
        job.photo_id = others.values_list("photo_id", flat=True).first()
        job.save(update_fields=["photo"])
        kept.append(job.pk)
    return kept


def job_rerun(*, job_id: int, actor: User) -> Job:
    """Staff: run a finished job again at our cost: a new job for the same photo, kind and hints.

    The new job is charged nothing (so a later failure refunds nothing) and keeps the original's
    tier and size; who asked for it is in the log line and the admin's history.
    """
    original = Job.objects.select_related("owner", "photo").filter(pk=job_id).first()
    if original is None:
        raise NotFound("No such job.")
    if not original.is_final:
        raise InvalidTransition(f"Job {original.pk} has not finished yet; wait for it or cancel it first.")
    if not original.owner.is_active:
        raise AccountSuspended(f"The owner of job {original.pk} is suspended.")
    inputs = list(original.inputs.select_related("photo"))
    photos = [row.photo for row in inputs] or [original.photo]
    if None in photos or len(inputs) < original.spec.inputs[0]:
        raise PhotoNotReady(f"An input of job {original.pk} was deleted.", photo_status="deleted")
    not_ready = next((photo for photo in photos if photo.status != "ready"), None)
    if not_ready is not None:
        raise PhotoNotReady(
            f"The photo of job {original.pk} is no longer ready.", photo_status=not_ready.status
        )
    with transaction.atomic():
        job = Job.objects.create(
            owner=original.owner,
            photo=original.photo,
            kind=original.kind,
            hints=original.hints,
            keep_tone=original.keep_tone,
            options=original.options,
            credits_charged=0,
            tier=original.tier,
            max_width=original.max_width,
            max_height=original.max_height,
            engine=settings.ENGINE,
        )
        JobInput.objects.bulk_create(
            JobInput(job=job, position=row.position, photo=row.photo, source_job=row.source_job)
            for row in inputs
        )
        transaction.on_commit(lambda: job_enqueue(job=job))
    _log(job, "job created", credits=0, rerun_of=original.pk, by=actor.pk)
    return job


class AlreadyRefunded(DomainError):
    code = "already_refunded"
    status = 409


def job_refund(*, job_id: int, actor: User) -> CreditTransaction:
    """Staff: give a finished job's credits back (a bad result, a complaint). At most once per job."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such job.")
    if not job.is_final:
        raise InvalidTransition(f"Job {job.pk} is still {job.status}: cancel it instead, which refunds it.")
    if job.credits_charged == 0:
        raise AlreadyRefunded(f"Job {job.pk} was free: there is nothing to refund.")
    if CreditTransaction.objects.filter(idempotency_key=f"job:{job.pk}:refund").exists():
        raise AlreadyRefunded(f"Job {job.pk} was already refunded.")
    row = credits_refund(job_id=job.pk, reason=f"Refund from our team for job {job.pk}", created_by=actor)
    if row is None:
        raise AlreadyRefunded(f"Job {job.pk} has no charge to refund.")
    _log(job, "job refunded by staff", credits=row.amount, by=actor.pk)
    return row


def job_enqueue(*, job: Job, countdown: float | None = None) -> None:
    from processing.tasks import job_run_task

    job_run_task.apply_async(args=[job.pk], queue=queue_for_tier(job.tier), countdown=countdown)


# ---------------------------------------------------------------------------------------
# Transitions


def job_transition(*, job_id: int, to: str, fence: str | None = None, **fields: Any) -> Job:
    """Lock the job, check the move, stamp times, save the changed fields, log it.

    With ``fence`` (a lease) the move is made only by the run holding it (``LeaseLost`` else).
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            raise JobGone(f"Job {job_id} no longer exists.")
        if to not in TRANSITIONS[job.status]:
            raise InvalidTransition(f"A {job.get_status_display().lower()} job cannot become {to}.")
        if fence is not None and job.lease != fence:
            raise LeaseLost(f"Job {job_id} is held by another run now.")
        previous = job.status
        job.status = to
        now = timezone.now()
        if to == JobStatus.RUNNING and job.started_at is None:
            job.started_at = now
        if to in FINAL_STATUSES:
            job.finished_at = now
            job.waiting_reason = ""
            job.lease = ""
            job.heartbeat_at = None
        for name, value in fields.items():
            setattr(job, name, value)
        job.save(
            update_fields=[
                "status", "started_at", "finished_at", "waiting_reason", "lease", "heartbeat_at",
                "updated_at", *fields,
            ]
        )  # fmt: skip
    _log(job, "job status changed", previous=previous, status=to)
    return job


def job_fail(*, job_id: int, code: str, message: str, lease: str | None = None) -> Job | None:
    """Final failure: mark it failed and refund exactly once, in one transaction.

    With ``lease`` only the run holding that lease may fail it ("" = only while nobody holds it).
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_final:
            return None
        if lease is not None and job.lease != lease:
            _log(job, "job not failed: another run holds it", code=code)
            return None
        job = job_transition(job_id=job_id, to=JobStatus.FAILED, error_code=code, error_message=message)
        credits_refund(job_id=job.pk, reason=f"Refund: {message}")
        transaction.on_commit(lambda: job_notify(job=job))
    return job


def job_cancel(*, user: User, job_id: int) -> Job:
    """Cancel a job. Refunded when its engine has not started; a finished job cannot be cancelled."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(owner=user, pk=job_id).first()
        if job is None:
            raise NotFound("No such job.")
        if job.is_final:
            raise JobAlreadyFinished(f"This job is already {job.get_status_display().lower()}.")
        engine_started = job.status == JobStatus.RUNNING
        job = job_transition(
            job_id=job.pk,
            to=JobStatus.CANCELLED,
            error_code="cancelled",
            error_message="Cancelled by you."
            + ("" if not engine_started else " The engine had already started, so the credits were used."),
        )
        if not engine_started:
            credits_refund(job_id=job.pk, reason="Refund: job cancelled before it started")
        if job.external_id:
            external_id, engine_name = job.external_id, job.engine
            transaction.on_commit(lambda: _engine_cancel(engine_name, external_id))
    return job


def job_cancel_open_for_user(*, user: User, message: str) -> int:
    """Cancel every queued or running job of a person and refund each (once), e.g. on suspension.

    Unlike ``job_cancel`` a running job is refunded too: the person will never get its result.
    """
    cancelled = 0
    open_ids = list(
        Job.objects.filter(owner=user).exclude(status__in=FINAL_STATUSES).values_list("pk", flat=True)
    )
    for job_id in open_ids:
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job_id)
            if job.is_final:  # finished while we were getting here
                continue
            job = job_transition(
                job_id=job.pk, to=JobStatus.CANCELLED, error_code="cancelled", error_message=message
            )
            credits_refund(job_id=job.pk, reason=f"Refund: {message}")
            if job.external_id:
                external_id, engine_name = job.external_id, job.engine
                transaction.on_commit(lambda e=engine_name, x=external_id: _engine_cancel(e, x))
        cancelled += 1
    return cancelled


def _engine_cancel(engine_name: str, external_id: str) -> None:
    from processing.engines.base import get_engine

    try:
        get_engine(engine_name).cancel(external_id)
    except Exception:  # the job is already cancelled here; the engine will time it out anyway
        logger.warning("engine cancel failed", extra={"external_id": external_id}, exc_info=True)


# ---------------------------------------------------------------------------------------
# Spend limits


def spend_limit_for(group: str) -> SpendLimit:
    default = settings.DAILY_SPEND_LIMITS[group]
    limit, _ = SpendLimit.objects.get_or_create(tier_group=group, defaults={"daily_limit": Decimal(default)})
    return limit


def spend_today(group: str) -> Decimal:
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    tiers = Job.objects.filter(finished_at__gte=start)
    tiers = tiers.filter(tier="free") if group == "free" else tiers.exclude(tier="free")
    return tiers.aggregate(total=Sum("cost"))["total"] or Decimal("0")


def pause_reason(group: str) -> str | None:
    """Why this tier group's new work waits, or None when it may run."""
    limit = spend_limit_for(group)
    if limit.paused_manually:
        return "Processing is paused for maintenance; your job will start when it resumes."
    if spend_today(group) >= limit.daily_limit:
        return "Today's processing budget is used up; your job will start tomorrow (UTC)."
    return None


def spend_check_alerts(group: str) -> None:
    """Email the admins once a day when a group's spend reaches 80% and 100% of its limit."""
    today = timezone.now().date()
    with transaction.atomic():
        limit = SpendLimit.objects.select_for_update().get(pk=spend_limit_for(group).pk)
        spent = spend_today(group)
        if limit.daily_limit <= 0:
            return
        share = spent / limit.daily_limit
        for threshold, field in ((Decimal("1"), "alerted_100_on"), (Decimal("0.8"), "alerted_80_on")):
            if share >= threshold and getattr(limit, field) != today:
                setattr(limit, field, today)
                limit.save(update_fields=[field, "updated_at"])
                pct = int(threshold * 100)
                transaction.on_commit(
                    lambda pct=pct: mail_admins(
                        f"{group} tier at {pct}% of its daily budget",
                        f"Spend today for the {group} tier: ${spent:.2f} of ${limit.daily_limit:.2f}.\n"
                        + (
                            "New work for this tier is paused until tomorrow or until the limit is raised.\n"
                            if pct == 100
                            else ""
                        ),
                    )
                )
                logger.warning(
                    "spend alert", extra={"tier_group": group, "percent": pct, "spent": str(spent)}
                )
                break


def spend_limit_set(
    *, group: str, daily_limit: Decimal | None = None, paused: bool | None = None
) -> SpendLimit:
    limit = spend_limit_for(group)
    if daily_limit is not None:
        if daily_limit < 0:
            raise DomainError("A daily limit cannot be negative.")
        limit.daily_limit = daily_limit
    if paused is not None:
        limit.paused_manually = paused
    limit.save()
    if pause_reason(group) is None:
        job_resume_waiting(group=group)
    return limit


def job_resume_waiting(*, group: str) -> int:
    """Re-send the jobs of a group that were waiting on the budget."""
    waiting = Job.objects.filter(status=JobStatus.QUEUED).exclude(waiting_reason="")
    waiting = waiting.filter(tier="free") if group == "free" else waiting.exclude(tier="free")
    count = 0
    for job in waiting:
        Job.objects.filter(pk=job.pk).update(waiting_reason="", updated_at=timezone.now())
        job_enqueue(job=job)
        count += 1
    return count


# ---------------------------------------------------------------------------------------
# Run


def photo_processing_array(*, photo: Photo, max_size: tuple[int, int]) -> np.ndarray:
    """The photo's processing-ready image, fitted to the job's size cap, as RGB pixels."""
    with default_storage.open(photo.image.name, "rb") as fh:
        image = imaging.decode(fh).image
    return np.asarray(imaging.fit_within(image, max_size))


def job_input_arrays(*, job: Job) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each input picture of ``job`` in order, fitted to its size cap: (as stored, after the
    job's first step). The first step (gentle levels and white balance, ``imaging.enhance``)
    applies to photos when the kind asks for it (``KindSpec.enhance_first``), never to a
    finished result, which is already what the person chose."""
    max_size = (job.max_width, job.max_height)
    enhance = job.spec.enhance_first
    # One query for the rows with their photos and source jobs; the runner reads them again.
    rows = JobInput.objects.select_related("photo", "source_job")
    prefetch_related_objects([job], Prefetch("inputs", queryset=rows))
    arrays = []
    for row in job.input_list():
        name = row.source_job.result.name if row.source_job else row.photo.image.name
        with default_storage.open(name, "rb") as fh:
            stored = np.asarray(imaging.fit_within(imaging.decode(fh).image, max_size))
        first = imaging.enhance(stored, keep_tone=job.keep_tone) if enhance and not row.source_job else stored
        arrays.append((stored, first))
    return arrays


def photo_engine_url(*, photo: Photo) -> str | None:
    """A presigned URL a remote engine can fetch the photo from; None without S3 (base64 then)."""
    return media_url(photo.image.name, max_age=settings.JOB_ENGINE_MAX_WAIT_S) if settings.USE_S3 else None


def _log(job: Job, message: str, **extra: Any) -> None:
    token = job_id_var.set(str(job.pk))
    try:
        logger.info(
            message, extra={"job_id_field": job.pk, "user_id": job.owner_id, "kind": job.kind, **extra}
        )
    finally:
        job_id_var.reset(token)


# ---------------------------------------------------------------------------------------
# Leases: who holds a job, and proof that they are alive


def _heartbeat_stale_before() -> Any:
    return timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_STALE_S)


def _lease_is_dead(job: Job) -> bool:
    """A lease nobody will use again: no heartbeat for the limit, or its process is gone."""
    if not job.lease:
        return True
    if job.heartbeat_at is None or job.heartbeat_at < _heartbeat_stale_before():
        return True
    return holder_is_dead(job.worker)


def job_reserve(*, job_id: int, holder: str) -> bool:
    """A worker took the job's message from the broker: record it, so that if the worker dies
    before starting the job the sweeper sees the silence. A job someone runs is left alone."""
    now = timezone.now()
    return bool(
        Job.objects.filter(pk=job_id, lease="", status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
            worker=holder, reserved_at=now, heartbeat_at=now
        )
    )


def job_heartbeat_reservations(*, holder: str) -> int:
    """The worker's main process is alive: refresh the jobs it has taken and not started."""
    return Job.objects.filter(
        worker=holder, lease="", status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).update(heartbeat_at=timezone.now())


def job_heartbeat(*, job_id: int, lease: str) -> bool:
    """The run holding ``lease`` is alive. False when it no longer holds the job."""
    return bool(
        Job.objects.filter(pk=job_id, lease=lease, status=JobStatus.RUNNING).update(
            heartbeat_at=timezone.now()
        )
    )


def job_release(*, job_id: int, lease: str) -> bool:
    """Give the job up (it stays open, e.g. for a retry) if this run still holds it."""
    return bool(
        Job.objects.filter(pk=job_id, lease=lease).update(
            lease="", worker="", heartbeat_at=None, updated_at=timezone.now()
        )
    )


def _open_jobs_of(worker: str) -> Any:
    return Job.objects.filter(worker__startswith=f"{worker}:").exclude(status__in=FINAL_STATUSES)


def job_open_count(*, worker: str) -> int:
    """Open jobs any process of a worker holds or has reserved."""
    return _open_jobs_of(worker).count()


def job_hand_back(*, worker: str, remote_only: bool) -> int:
    """A stopping worker gives its jobs back and re-sends them: with ``remote_only``, those it
    has not started and those waiting on a remote engine (their external id is kept, so the
    next worker resumes polling); else all. A run still going keeps nothing (lease fence)."""
    jobs = _open_jobs_of(worker)
    if remote_only:
        jobs = jobs.filter(Q(lease="") | ~Q(external_id=""))
    count = 0
    for job_id in list(jobs.values_list("pk", flat=True)):
        with transaction.atomic():
            job = Job.objects.select_for_update().filter(pk=job_id).first()
            if job is None or job.is_final or not job.worker.startswith(f"{worker}:"):
                continue
            job.lease, job.worker, job.heartbeat_at = "", "", None
            job.save(update_fields=["lease", "worker", "heartbeat_at", "updated_at"])
            transaction.on_commit(lambda job=job: job_enqueue(job=job))
        _log(job, "job handed back", worker=worker, external_id=job.external_id)
        count += 1
    return count


class _Heartbeat:
    """Refreshes a running job's heartbeat from a thread while the engine works."""

    def __init__(self, job_id: int, lease: str) -> None:
        self.job_id, self.lease = job_id, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.JOB_HEARTBEAT_S):
                try:
                    if not job_heartbeat(job_id=self.job_id, lease=self.lease):
                        return  # lost: the run notices at its next check or at the finish
                except Exception:
                    logger.warning("job heartbeat failed", exc_info=True)
                    connection.close()
        finally:
            connection.close()


def _lease_check(job: Job) -> None:
    """Raise when this run may no longer carry on: cancelled, deleted, or taken over."""
    state = Job.objects.filter(pk=job.pk).values_list("status", "lease").first()
    if state is None or state[0] == JobStatus.CANCELLED:
        raise JobCancelledWhileRunning()
    if state[0] != JobStatus.RUNNING or state[1] != job.lease:
        raise LeaseLost(f"Job {job.pk} is held by another run now.")


# ---------------------------------------------------------------------------------------
# Run: start, engine, finish


def job_start(*, job_id: int) -> Job | None:
    """Move a queued job to running (or resume a running one after a redelivery), taking a
    fresh lease for this process.

    Returns None when there is nothing to do: the job is final, its tier is paused (the job
    stays queued with the reason shown to its owner), or a live run holds it already (this is
    a duplicate message; the sweeper takes it back if that run goes silent).
    """
    holder = this_holder()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_final:  # deleted with its photo, or already done
            return None
        lease = uuid.uuid4().hex
        if job.status == JobStatus.QUEUED:
            reason = pause_reason(tier_group(job.tier))
            if reason:
                if job.waiting_reason != reason:
                    job.waiting_reason = reason
                    job.save(update_fields=["waiting_reason", "updated_at"])
                    _log(job, "job waiting", reason=reason)
                return None
            job = job_transition(
                job_id=job.pk,
                to=JobStatus.RUNNING,
                attempts=job.attempts + 1,
                waiting_reason="",
                worker=holder,
                lease=lease,
                heartbeat_at=timezone.now(),
            )
        else:
            if not _lease_is_dead(job):
                _log(job, "job held by a live run, message dropped", holder=job.worker)
                return None
            previous = job.worker
            job.attempts += 1
            job.worker, job.lease, job.heartbeat_at = holder, lease, timezone.now()
            job.save(update_fields=["attempts", "worker", "lease", "heartbeat_at", "updated_at"])
            _log(job, "job resumed", attempts=job.attempts, previous_holder=previous)
    return job


def _engine_result(job: Job, engine: Any, request: EngineRequest, image_url: str | None) -> EngineResult:
    """Run the engine. Remote engines are resumable: the external id is saved before polling,
    so a retried or redelivered task polls the job it already paid for. Only the run holding
    the lease submits, forgets or cancels a remote job."""
    if not hasattr(engine, "submit"):
        return engine.run(request)
    result_urls = _engine_result_urls(job)
    if not job.external_id:
        _lease_check(job)
        external_id = engine.submit(request, image_url=image_url, **result_urls)
        saved = Job.objects.filter(pk=job.pk, lease=job.lease, external_id="").update(
            external_id=external_id, updated_at=timezone.now()
        )
        if not saved:  # taken over while submitting: the other run has (or makes) its own
            _engine_cancel(job.engine, external_id)
            _lease_check(job)
            raise LeaseLost(f"Job {job.pk} is held by another run now.")
        job.external_id = external_id
        _log(job, "engine job submitted", external_id=job.external_id)
    deadline = time.monotonic() + settings.JOB_ENGINE_MAX_WAIT_S
    interval = settings.JOB_POLL_INTERVAL_S
    while True:
        try:
            result = engine.poll(job.external_id)
        except TransientEngineError as exc:
            if exc.resubmit:
                Job.objects.filter(pk=job.pk, lease=job.lease).update(external_id="")
            raise
        if result is not None:
            if result_urls:  # read into the result: the engine's copy is not kept
                default_storage.delete(_engine_result_name(job))
            return result
        if hasattr(engine, "progress"):
            job_progress_record(job_id=job.pk, progress=engine.progress(job.external_id))
        _lease_check(job)
        if time.monotonic() > deadline:
            if Job.objects.filter(pk=job.pk, lease=job.lease).update(external_id=""):
                engine.cancel(job.external_id)
            raise TransientEngineError(
                "The restoration took too long; we will try again.", code="engine_timed_out"
            )
        time.sleep(interval)
        interval = min(interval * 1.5, settings.JOB_POLL_INTERVAL_MAX_S)


def _engine_result_name(job: Job) -> str:
    return f"results/{job.owner_id}/{job.pk}-engine.{job.spec.result.extension}"


def _engine_result_urls(job: Job) -> dict[str, str]:
    """Presigned PUT and GET URLs of one object for a remote engine to upload a video result
    to (a 5 s 720p MP4 does not fit RunPod's payload limit as base64); none without S3 (the
    worker then returns small results as base64 and refuses larger ones) or for pictures."""
    if not settings.USE_S3 or not job.is_video:
        return {}
    name = _engine_result_name(job)
    client = default_storage.connection.meta.client
    put = client.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": settings.AWS_STORAGE_BUCKET_NAME,
            "Key": default_storage._normalize_name(name),
            "ContentType": job.spec.result.content_type,
        },
        ExpiresIn=settings.JOB_ENGINE_MAX_WAIT_S,
    )
    return {"result_put_url": put, "result_get_url": media_url(name, max_age=settings.JOB_ENGINE_MAX_WAIT_S)}


def job_progress_key(job_id: int) -> str:
    return f"job:{job_id}:progress"


def job_progress_record(*, job_id: int, progress: EngineProgress | None) -> None:
    """Keep a running job's latest engine progress for its page. Transient, so in the cache
    (Redis), not the database; it expires with the longest a job may wait on its engine."""
    if progress is not None:
        cache.set(job_progress_key(job_id), (progress.step, progress.steps), settings.JOB_ENGINE_MAX_WAIT_S)


class JobCancelledWhileRunning(Exception):
    """The owner cancelled while the engine worked: stop and keep nothing."""


def job_run(*, job_id: int) -> None:
    """Do one job: start it, run the engine, check the result, store it, finish.

    Safe to call again for the same job (a redelivered message, a retry, the sweeper): a
    final job is left alone, a job a live run holds is left to it, and a remote engine's job
    is resumed, not paid for twice. Transient engine errors release the lease and propagate
    for the task to retry; everything else ends the job. A run whose lease was taken over
    (it stalled past the heartbeat limit) stops and keeps nothing.
    """
    job = job_start(job_id=job_id)
    if job is None:
        return
    token = job_id_var.set(str(job.pk))
    try:
        with _Heartbeat(job.pk, job.lease):
            _job_run_leased(job)
    except TransientEngineError:
        job_release(job_id=job.pk, lease=job.lease)
        raise
    except JobCancelledWhileRunning:
        _log(job, "job cancelled while running")
    except LeaseLost:
        _log(job, "job taken over by another run; this run keeps nothing", lease=job.lease)
    finally:
        job_id_var.reset(token)


def _job_run_leased(job: Job) -> None:
    try:
        inputs = job_input_arrays(job=job)
        if not inputs:
            raise PermanentEngineError("The photos of this job were deleted.", code="inputs_deleted")
        sources = [first for _, first in inputs]
        engine = get_engine(job.engine)
        request = EngineRequest(
            image=sources[0],
            images=tuple(sources[1:]),
            kind=job.kind,
            max_size=(job.max_width, job.max_height),
            hints=job.hints or None,
            seed=job.pk,
            job_ref=str(job.pk),
            keep_tone=job.keep_tone,
            options={**job.options, **job.spec.engine_options()},
        )
        # A remote engine fetches the stored photo by URL only when the job has one input and
        # its first step left it as it is; an enhanced one travels with the request (a
        # 1280×720 PNG fits its limit).
        single = len(inputs) == 1 and job.photo is not None and not job.input_list()[0].source_job
        unchanged = single and np.array_equal(sources[0], inputs[0][0])
        image_url = photo_engine_url(photo=job.photo) if hasattr(engine, "submit") and unchanged else None
        size = job.spec.result_size(sources, request.max_size)
        started = time.process_time()
        while True:
            try:
                # The engine's own verdict (a result it could not line up) counts like ours.
                result = _engine_result(job, engine, request, image_url)
                job.spec.check(sources, result, size)
                break
            except QualityCheckFailed as exc:
                if job.quality_retries >= settings.JOB_QUALITY_RETRIES:
                    job_fail(job_id=job.pk, code=exc.code, message=_person_message(exc), lease=job.lease)
                    return
                job.quality_retries += 1
                job.external_id = ""
                retried = Job.objects.filter(pk=job.pk, lease=job.lease).update(
                    quality_retries=job.quality_retries, external_id=""
                )
                if not retried:
                    _lease_check(job)
                _log(job, "quality check failed, retrying", reason=exc.reason)
        cpu_seconds = time.process_time() - started
        job_finish(job=job, result=result, cpu_seconds=cpu_seconds)
    except PermanentEngineError as exc:
        job_fail(job_id=job.pk, code=exc.code, message=exc.message, lease=job.lease)
    except QualityCheckFailed as exc:
        job_fail(job_id=job.pk, code=exc.code, message=_person_message(exc), lease=job.lease)


def _person_message(exc: QualityCheckFailed) -> str:
    reason = exc.reason.rstrip(".")
    return f"We could not make a good result for this photo ({reason}). Your credits were refunded."


def job_finish(*, job: Job, result: EngineResult, cpu_seconds: float) -> Job | None:
    """Store the result and its thumbnail, then mark the job succeeded with its costs.

    What is stored follows the kind's result type (``KindSpec.result``): a picture is a JPEG;
    a video is its MP4 as the engine made it plus a full-size poster JPEG (its first frame).
    Results of a generative engine carry the IPTC "trained algorithmic media" marker.

    Only the run holding the job's lease finishes it; when the job was cancelled, deleted
    (with its photo or account) or taken over meanwhile, the files just written are removed.
    """
    image = Image.fromarray(result.image)
    from processing.selectors import job_ai_made  # selectors import this module

    ai_made = job_ai_made(job=job)
    base = f"results/{job.owner_id}/{job.pk}-{uuid.uuid4().hex[:8]}"
    result_type = job.spec.result
    stored: dict[str, str] = {}
    if result_type is ResultType.VIDEO:
        if not result.video:
            raise PermanentEngineError("The engine sent no video.", code="result_not_video")
        stored["result"] = default_storage.save(f"{base}.{result_type.extension}", ContentFile(result.video))
        stored["result_poster"] = default_storage.save(
            f"{base}-poster.jpg", ContentFile(encode_jpeg(image, quality=90, ai_made=ai_made))
        )
    else:
        stored["result"] = default_storage.save(
            f"{base}.jpg", ContentFile(encode_jpeg(image, quality=92, ai_made=ai_made))
        )
    thumb = image.copy()
    thumb.thumbnail((settings.THUMBNAIL_SIZE, settings.THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    stored["result_thumbnail"] = default_storage.save(
        f"{base}-thumb.jpg", ContentFile(encode_jpeg(thumb, quality=85, ai_made=ai_made))
    )
    gpu_seconds = float(result.usage.get("gpu_seconds") or 0.0)
    cost = (Decimal(str(gpu_seconds)) * Decimal(str(settings.RUNPOD_GPU_RATE_PER_SECOND))).quantize(
        Decimal("0.0001")
    )
    try:
        job = job_transition(
            job_id=job.pk,
            to=JobStatus.SUCCEEDED,
            fence=job.lease or None,
            **stored,
            result_width=image.width,
            result_height=image.height,
            cpu_seconds=float(result.usage.get("cpu_seconds") or cpu_seconds),
            gpu_seconds=gpu_seconds,
            cost=cost,
            notes=list(result.notes),
            error_code="",
            error_message="",
        )
    except InvalidTransition as exc:
        # Cancelled, deleted or taken over meanwhile: nobody will see this result, keep no file.
        for name in stored.values():
            default_storage.delete(name)
        _log(job, "result discarded", reason=exc.code)
        return None
    spend_check_alerts(tier_group(job.tier))
    job_notify(job=job)
    return job


def job_notify(*, job: Job) -> None:
    """Email the owner that a job finished (on unless switched off on the account page)."""
    owner = job.owner
    if not owner.notify_by_email:
        return
    context = {"job": job, "url": f"{settings.SITE_URL}{reverse('processing:detail', args=[job.pk])}"}
    subject = (
        f"Your {job.done_word.lower()} photo is ready"
        if job.status == JobStatus.SUCCEEDED
        else "We couldn't finish your photo"
    )
    try:
        send_mail(
            subject,
            render_to_string("processing/email/job_finished.txt", context),
            None,
            [owner.email],
        )
    except Exception:  # a mail outage must not undo a finished job
        logger.warning("job email failed", extra={"job_id_field": job.pk}, exc_info=True)


def job_sweep() -> int:
    """Re-send jobs nobody is working on any more.

    - Held jobs whose heartbeat is older than ``JOB_HEARTBEAT_STALE_S``: the worker that ran
      or reserved them died (or stalls); the lease is taken back first, so if it wakes up it
      keeps nothing.
    - Lost messages: queued jobs nobody reserved, with no news for ``JOB_QUEUED_STALE_S``, and
      running jobs with no progress for ``JOB_RUNNING_STALE_S`` (longer than the engine's own
      limit: also a hung engine whose worker still beats).
    After ``JOB_MAX_ATTEMPTS`` starts a job fails (refunded) instead.
    """
    now = timezone.now()
    silent = Q(
        status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        heartbeat_at__lt=now - timedelta(seconds=settings.JOB_HEARTBEAT_STALE_S),
    )
    lost_queued = Q(
        status=JobStatus.QUEUED,
        waiting_reason="",
        worker="",
        updated_at__lt=now - timedelta(seconds=settings.JOB_QUEUED_STALE_S),
    )
    stuck_running = Q(
        status=JobStatus.RUNNING, updated_at__lt=now - timedelta(seconds=settings.JOB_RUNNING_STALE_S)
    )
    due = silent | lost_queued | stuck_running
    count = 0
    for job_id in Job.objects.filter(due).order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            # Checked again under the lock: a heartbeat or another sweeper may have come first.
            job = Job.objects.select_for_update().filter(due, pk=job_id).first()
            if job is None:
                continue
            silent_holder = job.worker
            if job.attempts >= settings.JOB_MAX_ATTEMPTS:
                job_fail(
                    job_id=job.pk,
                    code="job_stuck",
                    message="This job could not be finished. Your credits were refunded.",
                )
                continue
            job.lease, job.worker, job.heartbeat_at = "", "", None
            job.save(update_fields=["lease", "worker", "heartbeat_at", "updated_at"])
            transaction.on_commit(lambda job=job: job_enqueue(job=job))
        _log(job, "job re-sent by sweeper", status=job.status, silent_holder=silent_holder)
        count += 1
    # Waiting jobs whose pause has lifted (a new day, a raised limit) go back in line.
    for group in ("free", "paid"):
        if pause_reason(group) is None:
            count += job_resume_waiting(group=group)
    return count
