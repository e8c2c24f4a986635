"""Periodic credit work: monthly Free grants on each sign-up anniversary, annual plans' months."""

from __future__ import annotations

from celery import shared_task

from credits.billing import credits_grant_annual_months_due
from credits.services import credits_grant_free_months_due


@shared_task(name="credits.grant_free_months")
def credits_grant_free_months_task() -> int:
    return credits_grant_free_months_due()


@shared_task(name="credits.grant_annual_months")
def credits_grant_annual_months_task() -> int:
    return credits_grant_annual_months_due()
