"""Processing tasks: thin wrappers that load by id, call a service and decide on retries.

Messages are acknowledged late and rejected on worker loss (settings), so a job may be
delivered more than once: ``job_run`` is idempotent and resumes instead of repeating work.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from processing.engines.base import TransientEngineError, retry_delay
from processing.services import job_fail, job_run, job_sweep


@shared_task(bind=True, name="processing.job_run", max_retries=None)
def job_run_task(self, job_id: int) -> None:
    try:
        job_run(job_id=job_id)
    except TransientEngineError as exc:
        if self.request.retries >= settings.JOB_TRANSIENT_RETRIES:
            # lease="": only while no other run took the job meanwhile (a duplicate message).
            job_fail(
                job_id=job_id,
                code=exc.code,
                message=f"{exc.message.split(';')[0]}. Your credits were refunded.",
                lease="",
            )
            return
        countdown = exc.retry_after or retry_delay(self.request.retries, base=settings.JOB_RETRY_BASE_S)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="processing.job_sweep")
def job_sweep_task() -> int:
    return job_sweep()
