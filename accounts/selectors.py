"""Account reads: tokens, data exports, what a data export contains, what deletion would remove."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiToken, DataExport, DataExportStatus, User
from credits.billing import membership_for_user
from credits.models import CreditTransaction, Membership
from credits.plans import PLANS, Plan
from credits.selectors import credit_balance, user_plan, user_tier
from photos.models import Photo, PhotoStatus
from processing.models import FINAL_STATUSES, Job, JobStatus, ShareLink


def api_token_list_for_user(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at")


# --- Data exports ----------------------------------------------------------------------


def data_export_latest_for_user(*, user: User) -> DataExport | None:
    return DataExport.objects.filter(user=user).order_by("-created_at", "-id").first()


def data_export_get_for_user(*, user: User, export_id: int) -> DataExport | None:
    """The person's export while it can be downloaded: ready, with a file, not expired."""
    return (
        DataExport.objects.filter(
            user=user, pk=export_id, status=DataExportStatus.READY, expires_at__gt=timezone.now()
        )
        .exclude(file="")
        .first()
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def data_export_account(*, user: User) -> dict[str, Any]:
    """account.json: who the person is, their preferences, plan and balance."""
    membership = membership_for_user(user=user)
    plan = user_plan(user=user)
    return {
        "email": user.email,
        "name": user.name,
        "date_joined": _iso(user.date_joined),
        "preferences": {"notify_by_email": user.notify_by_email},
        "tier": user_tier(user=user),
        "plan": {
            "name": plan.name,
            "monthly_credits": plan.monthly_credits,
            "status": membership.status if membership else None,
            "billing_interval": membership.interval if membership else None,
            "current_period_end": _iso(membership.current_period_end) if membership else None,
        },
        "credit_balance": credit_balance(user=user),
    }


def data_export_photos(*, user: User) -> list[dict[str, Any]]:
    """photos.json: each photo's own details (the pictures themselves are in photos/)."""
    return [
        {
            "id": photo.pk,
            "file": f"photos/{photo.pk}.jpg" if photo.status == PhotoStatus.READY and photo.image else None,
            "original_name": photo.original_name,
            "status": photo.status,
            "source": photo.source,
            "width": photo.width,
            "height": photo.height,
            "uploaded_at": _iso(photo.created_at),
            "ready_at": _iso(photo.ready_at),
            "error": photo.error or None,
        }
        for photo in Photo.objects.filter(owner=user).order_by("created_at", "id")
    ]


def data_export_jobs(*, user: User) -> list[dict[str, Any]]:
    """jobs.json: every job, with the share links made for it."""
    jobs = (
        Job.objects.filter(owner=user)
        .order_by("queued_at", "id")
        .prefetch_related("share_links", "inputs")
        .select_related("photo")
    )
    return [
        {
            "id": job.pk,
            "photo": job.photo_id,
            # The pictures the job was made from, in order: a photo, or another job's result.
            "inputs": [
                {"position": row.position, "photo": row.photo_id, "result_of_job": row.source_job_id}
                for row in job.input_list()
            ],
            "options": job.options,
            "kind": job.kind,
            "status": job.status,
            "credits": job.credits_charged,
            "hints": job.hints,
            "result": job.result_export_name if job.status == JobStatus.SUCCEEDED and job.result else None,
            "queued_at": _iso(job.queued_at),
            "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at),
            "error": job.error_message or None,
            "share_links": [
                {
                    "created_at": _iso(link.created_at),
                    "expires_at": _iso(link.expires_at),
                    "revoked_at": _iso(link.revoked_at),
                }
                for link in job.share_links.all()
            ],
        }
        for job in jobs
    ]


def data_export_ledger(*, user: User) -> list[dict[str, Any]]:
    """ledger.json: every credit transaction, oldest first."""
    rows = CreditTransaction.objects.filter(user=user).order_by("created_at", "id")
    return [
        {
            "date": _iso(row.created_at),
            "kind": row.kind,
            "amount": row.amount,
            "balance_after": row.balance_after,
            "reason": row.reason,
            "job": row.job_id,
        }
        for row in rows
    ]


# --- Account deletion ------------------------------------------------------------------


@dataclass(frozen=True)
class DeletionSummary:
    """What deleting the account removes, shown before the person confirms."""

    photos: int
    results: int
    share_links: int
    open_jobs: int
    balance: int
    exports: int
    membership: Membership | None
    plan: Plan | None


def account_deletion_summary(*, user: User) -> DeletionSummary:
    membership = membership_for_user(user=user)
    jobs = Job.objects.filter(owner=user)
    return DeletionSummary(
        photos=Photo.objects.filter(owner=user).count(),
        results=jobs.filter(status=JobStatus.SUCCEEDED).exclude(result="").count(),
        share_links=ShareLink.objects.filter(
            job__owner=user, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).count(),
        open_jobs=jobs.exclude(status__in=FINAL_STATUSES).count(),
        balance=credit_balance(user=user),
        exports=DataExport.objects.filter(user=user, status=DataExportStatus.READY).count(),
        membership=membership,
        plan=PLANS.get(membership.plan) if membership else None,
    )
