"""Moderation: reports from the public share page and the library, and what staff do about them.

Every action (dismiss, remove content, suspend, lift a suspension) writes a ``ModerationAction``
row with who and when, and a log line. Removing content deletes the photo, its jobs, their share
links and every stored file at once; suspending an account stops sign-in (Django refuses inactive
users, sessions included), stops new jobs, revokes the person's share links and cancels their
open jobs with one refund each.
"""

from __future__ import annotations

import logging

from django.core.files.storage import default_storage
from django.core.mail import mail_admins
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from photos.models import Photo
from photos.services import photo_files
from processing.models import (
    FINAL_STATUSES,
    PERSON_REASONS,
    Job,
    ModerationAction,
    ModerationActionKind,
    Report,
    ReportReason,
    ReportSource,
    ReportStatus,
    ShareLink,
)
from processing.services import job_cancel_open_for_user, job_photo_release
from processing.sharing import share_get_public
from rekindle.exceptions import DomainError, NotFound

logger = logging.getLogger(__name__)

PERSON_REASON_VALUES = frozenset(value for value, _ in PERSON_REASONS)
SUSPENDED_JOB_MESSAGE = "Cancelled because the account was suspended; the credits were refunded."


class InvalidReport(DomainError):
    code = "invalid_report"


class AlreadyHandled(DomainError):
    code = "already_handled"
    status = 409


def _clean_report(reason: str, note: str) -> tuple[str, str]:
    if reason not in PERSON_REASON_VALUES:
        raise InvalidReport("Choose why you are reporting it.")
    return reason, " ".join((note or "").split())[:500]


def _open_report_for(reporter: User | None, **content: object) -> Report | None:
    # A signed-in person reporting the same thing twice adds nothing to the queue.
    if reporter is None:
        return None
    return Report.objects.filter(reporter=reporter, status=ReportStatus.OPEN, **content).first()


def _notify_admins(report: Report) -> None:
    path = reverse("admin:processing_report_change", args=[report.pk])
    mail_admins(
        f"New report: {report.get_reason_display()}",
        f"Reason: {report.get_reason_display()}\nNote: {report.note or '-'}\n"
        f"Owner: user {report.owner_id}\nReview it in the moderation queue: {path}\n",
    )


def report_share(*, token: str, reason: str, note: str = "", reporter: User | None = None) -> Report:
    """A report from the public share page (anyone, signed in or not)."""
    link = share_get_public(token=token)
    reason, note = _clean_report(reason, note)
    job = link.job
    existing = _open_report_for(reporter, share_link=link)
    if existing is not None:
        return existing
    # A new picture made from several photos (bring together) is the reported content itself,
    # not the photo it happens to belong to.
    photo = None if job.spec.result_outlives_inputs else job.photo
    report = Report.objects.create(
        share_link=link,
        job=job,
        photo=photo,
        owner=job.owner,
        reason=reason,
        note=note,
        reporter=reporter,
        content_hash=photo.content_hash if photo else "",
    )
    transaction.on_commit(lambda: _notify_admins(report))
    logger.warning(
        "report created",
        extra={"report_id": report.pk, "job_id_field": job.pk, "reason": reason, "source": "share"},
    )
    return report


def report_photo(*, user: User, photo_id: int, reason: str, note: str = "") -> Report:
    """A report from a person's own library (e.g. a photo a phone hand-off put there)."""
    photo = Photo.objects.filter(owner=user, pk=photo_id).first()
    if photo is None:
        raise NotFound("No such photo.")
    reason, note = _clean_report(reason, note)
    existing = _open_report_for(user, photo=photo)
    if existing is not None:
        return existing
    report = Report.objects.create(
        photo=photo, owner=user, reason=reason, note=note, reporter=user, content_hash=photo.content_hash
    )
    transaction.on_commit(lambda: _notify_admins(report))
    logger.warning(
        "report created",
        extra={"report_id": report.pk, "photo_id": photo.pk, "reason": reason, "source": "library"},
    )
    return report


def report_flag_removed_before(*, link: ShareLink) -> Report | None:
    """Flag a new share of the very file moderation removed before (same upload hash).

    The share still works: the flag puts it in the queue for a person to decide. One open flag
    per photo, however many times it is shared.
    """
    photo = link.job.photo
    if photo is None or link.job.spec.result_outlives_inputs or not photo.content_hash:
        return None
    removed = Report.objects.filter(status=ReportStatus.REMOVED, content_hash=photo.content_hash)
    if not removed.exists():
        return None
    report, created = Report.objects.get_or_create(
        photo=photo,
        source=ReportSource.AUTOMATIC,
        status=ReportStatus.OPEN,
        defaults={
            "share_link": link,
            "job": link.job,
            "owner": photo.owner,
            "reason": ReportReason.REMOVED_BEFORE,
            "note": f"Same file as content removed after report {removed.order_by('handled_at').first().pk}.",
            "content_hash": photo.content_hash,
        },
    )
    if created:
        transaction.on_commit(lambda: _notify_admins(report))
        logger.warning(
            "report created", extra={"report_id": report.pk, "photo_id": photo.pk, "source": "automatic"}
        )
    return report


def _record(
    kind: str, *, actor: User, subject: User | None, report: Report | None = None, detail: str = ""
) -> ModerationAction:
    action = ModerationAction.objects.create(
        kind=kind, actor=actor, subject=subject, report=report, detail=detail[:300]
    )
    logger.warning(
        "moderation action",
        extra={
            "action": kind,
            "actor_id": actor.pk,
            "subject_id": subject.pk if subject else None,
            "report_id": report.pk if report else None,
        },
    )
    return action


def _close(report: Report, *, status: str, actor: User) -> None:
    report.status = status
    report.handled_by = actor
    report.handled_at = timezone.now()
    report.save(update_fields=["status", "handled_by", "handled_at"])


def _locked_open_report(report_id: int) -> Report:
    report = Report.objects.select_for_update().filter(pk=report_id).first()
    if report is None:
        raise NotFound("No such report.")
    if report.status != ReportStatus.OPEN:
        raise AlreadyHandled(f"This report was already handled ({report.get_status_display().lower()}).")
    return report


def report_dismiss(*, report_id: int, actor: User) -> Report:
    with transaction.atomic():
        report = _locked_open_report(report_id)
        _close(report, status=ReportStatus.DISMISSED, actor=actor)
        _record(ModerationActionKind.DISMISS, actor=actor, subject=report.owner, report=report)
    return report


def _reported_photo(report: Report) -> Photo | None:
    if report.photo_id is not None:
        return report.photo
    return report.job.photo if report.job_id is not None else None


def report_remove_content(*, report_id: int, actor: User) -> Report:
    """Take the reported photo down: its share links stop at once, its files are deleted.

    The photo row goes (its jobs and share links with it); every open report on the same photo
    is closed too. Files are deleted after commit, so a rollback leaves everything in place.
    """
    with transaction.atomic():
        report = _locked_open_report(report_id)
        photo = _reported_photo(report)
        removed: list[str] = []
        job = report.job if report.job_id is not None else None
        if job is not None and job.spec.result_outlives_inputs:
            # A reported new picture (bring together) is content of its own: it goes, with its
            # links, whatever happens to the photos it was made from.
            ShareLink.objects.filter(job=job, revoked_at__isnull=True).update(revoked_at=timezone.now())
            job_names = [f.name for f in (job.result, job.result_thumbnail, job.result_poster) if f]
            job.delete()
            transaction.on_commit(lambda: [default_storage.delete(name) for name in job_names])
            removed.append(f"result {report.job_id} and {len(job_names)} file(s)")
            # The photos it was made from stay unless the report was on one of them itself.
            photo = report.photo
        if photo is not None:
            job_photo_release(photo=photo)
            names = photo_files(photo)
            # Revoke first: a share page served during the rest of this transaction already 404s.
            ShareLink.objects.filter(job__photo=photo, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )
            siblings = Report.objects.filter(photo=photo, status=ReportStatus.OPEN).exclude(pk=report.pk)
            for other in siblings.select_for_update():
                _close(other, status=ReportStatus.REMOVED, actor=actor)
            removed.append(f"photo {photo.pk} and {len(names)} file(s)")
            photo.delete()
            transaction.on_commit(lambda: [default_storage.delete(name) for name in names])
        detail = f"Removed {'; '.join(removed)}." if removed else "Content already gone."
        report.refresh_from_db()
        _close(report, status=ReportStatus.REMOVED, actor=actor)
        _record(ModerationActionKind.REMOVE, actor=actor, subject=report.owner, report=report, detail=detail)
    return report


def user_suspend(*, user: User, actor: User, reason: str = "", report_id: int | None = None) -> int:
    """Suspend an account: no sign-in, no new jobs, shares revoked, open jobs cancelled and refunded.

    Returns how many jobs were cancelled. Suspending twice refunds nothing twice: the refunds are
    keyed by job, and an already-suspended account has no open jobs left.
    """
    if user.pk == actor.pk:
        raise DomainError("You cannot suspend your own account.")
    if user.is_superuser and not actor.is_superuser:
        raise DomainError("Only a superuser may suspend a superuser.")
    with transaction.atomic():
        person = User.objects.select_for_update().get(pk=user.pk)
        report = _locked_open_report(report_id) if report_id is not None else None
        if person.is_active:
            person.is_active = False
            person.suspended_at = timezone.now()
            person.save(update_fields=["is_active", "suspended_at"])
        ShareLink.objects.filter(job__owner=person, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if report is not None:
            _close(report, status=ReportStatus.SUSPENDED, actor=actor)
        _record(ModerationActionKind.SUSPEND, actor=actor, subject=person, report=report, detail=reason)
    # Each job is cancelled and refunded in its own transaction (a job may be finishing meanwhile).
    cancelled = job_cancel_open_for_user(user=person, message=SUSPENDED_JOB_MESSAGE)
    user.is_active, user.suspended_at = person.is_active, person.suspended_at
    return cancelled


def user_unsuspend(*, user: User, actor: User, reason: str = "") -> User:
    with transaction.atomic():
        person = User.objects.select_for_update().get(pk=user.pk)
        if not person.is_active:
            person.is_active = True
            person.suspended_at = None
            person.save(update_fields=["is_active", "suspended_at"])
            _record(ModerationActionKind.UNSUSPEND, actor=actor, subject=person, detail=reason)
    return person


def moderation_preview(*, report: Report) -> dict[str, int | None]:
    """What removing the content, or suspending the owner, would touch (for the confirmation)."""
    photo = _reported_photo(report)
    live = ShareLink.objects.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
    owner_jobs = Job.objects.filter(owner_id=report.owner_id).exclude(status__in=FINAL_STATUSES)
    return {
        "photo_id": photo.pk if photo else None,
        "photo_files": len(photo_files(photo)) if photo else 0,
        "photo_jobs": photo.jobs.count() if photo else 0,
        "photo_live_links": live.filter(job__photo=photo).count() if photo else 0,
        "owner_open_jobs": owner_jobs.count() if report.owner_id else 0,
        "owner_live_links": live.filter(job__owner_id=report.owner_id).count() if report.owner_id else 0,
    }
