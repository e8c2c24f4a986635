"""Print what the workers are doing: queue depths, running jobs, queued jobs and paused tiers.

    python manage.py queue_status

Meant for an operator at a terminal (or a cron job that mails its output); exits 0 unless the
broker cannot be reached.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from processing.selectors import cost_group_limits, job_count_queued_by_tier_group, job_list_running
from rekindle.celery import queue_depths


class Command(BaseCommand):
    help = "Print queue depths per queue, running jobs, queued jobs per tier group and paused tiers."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            depths = queue_depths()
        except Exception as exc:  # the broker is down: say so plainly, and fail for cron
            raise CommandError(f"Cannot reach the broker: {exc}") from exc
        self.stdout.write("Queues (messages waiting on the broker)")
        for name, depth in depths.items():
            self.stdout.write(f"  {name:<10} {depth}")

        now = timezone.now()
        running = list(job_list_running())
        self.stdout.write(f"\nRunning jobs: {len(running)}")
        for job in running:
            minutes = (now - job.started_at).total_seconds() / 60 if job.started_at else 0.0
            # Who holds it and when it last proved alive (stale past JOB_HEARTBEAT_STALE_S).
            beat = f"{(now - job.heartbeat_at).total_seconds():.0f} s ago" if job.heartbeat_at else "never"
            self.stdout.write(
                f"  job {job.pk:<8} {job.kind:<18} tier {job.tier:<9} engine {job.engine:<7} "
                f"attempt {job.attempts} running {minutes:.1f} min  user {job.owner_id}  "
                f"held by {job.worker or 'nobody'}, heartbeat {beat}"
            )

        self.stdout.write("\nQueued jobs (database)")
        for group, counts in job_count_queued_by_tier_group().items():
            self.stdout.write(
                f"  {group:<10} {counts['queued']} queued, {counts['waiting']} waiting on the budget"
            )

        self.stdout.write("\nTier groups")
        for limit in cost_group_limits():
            state = f"PAUSED: {limit.pause_reason}" if limit.pause_reason else "running"
            spent = f"spent ${limit.spent_today:.2f} of ${limit.daily_limit:.2f} today"
            self.stdout.write(f"  {limit.group:<10} {spent}: {state}")
