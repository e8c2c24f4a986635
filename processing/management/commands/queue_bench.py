"""``python manage.py queue_bench``: what the job pipeline costs and how well paid work jumps the line.

Needs PostgreSQL and Redis (``DATABASE_URL``, ``REDIS_URL``) and the local engine; run it
against a throwaway database, never production. It makes throwaway users
(``bench-<uuid>@example.invalid``) with credits and one ready photo each (a JPEG made from
scikit-image's photos, uploaded and preprocessed through the photo services), and prints:

(a) server-side overhead per job: jobs created and run in this process through ``job_run``
    with an engine that hands the input straight back, so everything measured is ours
    (charge, enqueue, transitions, decode, quality check, result files, emails off);
(b) the latency of a paid job (finished_at - queued_at) submitted behind ``--free-jobs``
    queued free jobs, divided by its latency on an idle queue, with one real worker
    (``celery worker -Q priority,standard --pool solo -c 1``) started only after the free
    jobs are queued; the target is at most 1.5;
(c) jobs per minute with the local engine at 720p, sequential in-process ``job_run`` of
    paid-tier jobs (one core's worth of a worker).

Both queues are purged before and after, and everything it made (users, photos, jobs,
ledger rows, stored files) is removed at the end, also when it fails. Figures, not tests.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from PIL import Image

from accounts.models import User
from credits.models import Membership
from credits.plans import job_price
from credits.services import credits_grant
from photos.models import Photo, PhotoStatus
from photos.services import photo_preprocess, photo_upload
from processing.engines.aging import age_photo
from processing.management.bench import bench_users_delete
from processing.management.instant_engine import instant_engine
from processing.models import Job, JobStatus
from processing.services import job_create, job_run
from rekindle.celery import app

KIND = "restore"
# The target: a paid job behind a full free queue waits at most half again its idle time.
TARGET_LATENCY_RATIO = 1.5
# A 16:9 upload, so the processing-ready image and a paid result are exactly 1280×720.
UPLOAD_SIZE = (1920, 1080)
JOB_TIMEOUT_S = 300


def bench_jpeg() -> bytes:
    """A 16:9 JPEG like a scan of an old print: scikit-image's coffee upscaled, then aged
    (grain, fading, cast, dust, scratches), so the local engine does its real work on it."""
    try:
        from skimage import data
    except ImportError as exc:
        raise CommandError(
            "queue_bench needs scikit-image (a development dependency): pip install -r requirements-dev.txt"
        ) from exc
    base = np.asarray(Image.fromarray(data.coffee()).resize(UPLOAD_SIZE, Image.Resampling.LANCZOS))
    buffer = io.BytesIO()
    Image.fromarray(age_photo(base, seed=1)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def purge_queues() -> int:
    """Drop every message in our queues (priority and standard) so no run leaks into the next."""
    return app.control.purge() or 0


def latency_s(job: Job) -> float:
    return (job.finished_at - job.queued_at).total_seconds()


def summary_ms(samples: list[float]) -> str:
    return f"mean {statistics.mean(samples) * 1000:.1f} ms, median {statistics.median(samples) * 1000:.1f} ms"


class Command(BaseCommand):
    help = "Job overhead, paid-job latency behind a free queue, and local-engine throughput."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--free-jobs", type=int, default=100, help="free jobs queued ahead of the paid one"
        )
        parser.add_argument("--instant-jobs", type=int, default=50, help="jobs timed with the instant engine")
        parser.add_argument("--local-jobs", type=int, default=10, help="jobs timed with the local engine")
        parser.add_argument(
            "--samples", type=int, default=5, help="paid jobs timed behind the free queue and on an idle one"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.REDIS_URL:
            raise CommandError(
                "queue_bench needs Redis and PostgreSQL: set REDIS_URL (e.g. redis://127.0.0.1:6379/14) "
                "and DATABASE_URL to a throwaway database, then run it again."
            )
        if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
            raise CommandError("queue_bench needs PostgreSQL: set DATABASE_URL to a throwaway database.")
        if settings.ENGINE != "local":
            raise CommandError(f"queue_bench measures the local engine; ENGINE is {settings.ENGINE!r}.")
        self.user_ids: list[int] = []
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_log = tempfile.NamedTemporaryFile(prefix="queue_bench-worker-", suffix=".log")  # noqa: SIM115
        jpeg = bench_jpeg()
        self.stdout.write(
            f"{os.cpu_count()} cores; database {settings.DATABASES['default']['NAME']}, "
            f"broker {settings.REDIS_URL}; purged {purge_queues()} leftover message(s)"
        )
        try:
            paid, paid_photo = self.make_user(
                jpeg, paid=True, jobs=options["instant_jobs"] + options["local_jobs"] + 2 * options["samples"]
            )
            free, free_photo = self.make_user(jpeg, paid=False, jobs=options["free_jobs"])
            purge_queues()  # the uploads' preprocessing tasks: already done here
            self.bench_overhead(paid, paid_photo, options["instant_jobs"])
            self.bench_throughput(paid, paid_photo, options["local_jobs"])
            self.bench_latency(paid, paid_photo, free, free_photo, options["free_jobs"], options["samples"])
        finally:
            self.stop_worker()
            purge_queues()
            self.clean_up()
            self.worker_log.close()

    # --- set-up and clean-up -------------------------------------------------------------

    def make_user(self, jpeg: bytes, *, paid: bool, jobs: int) -> tuple[User, Photo]:
        """A throwaway user with credits for ``jobs`` jobs and one ready photo."""
        # Confirmed, as only confirmed accounts may start jobs.
        user = User.objects.create_user(
            email=f"bench-{uuid.uuid4()}@example.invalid",
            notify_by_email=False,
            email_confirmed_at=timezone.now(),
        )
        self.user_ids.append(user.pk)
        credits_grant(
            user=user,
            amount=max(1, jobs) * job_price(KIND),
            key=f"bench:{uuid.uuid4()}",
            reason="queue_bench credits",
        )
        if paid:
            Membership.objects.create(user=user, plan="cherish", status="active")
        photo = photo_upload(user=user, file=io.BytesIO(jpeg), size=len(jpeg), name="bench.jpg")
        photo = photo_preprocess(photo_id=photo.pk)
        if photo is None or photo.status != PhotoStatus.READY:
            raise CommandError(f"The bench photo did not become ready: {photo and photo.error}")
        return user, photo

    def clean_up(self) -> None:
        """Remove the users (photos, jobs, memberships cascade), their ledger rows and files."""
        removed = bench_users_delete(self.user_ids)
        self.stdout.write(f"\nRemoved {len(self.user_ids)} bench user(s) and {removed} stored file(s).")

    # --- (a) overhead -----------------------------------------------------------------------

    def bench_overhead(self, user: User, photo: Photo, count: int) -> None:
        samples = []
        with instant_engine():
            for _ in range(count):
                started = time.perf_counter()
                job = job_create(user=user, photo_id=photo.pk, kind=KIND)
                job_run(job_id=job.pk)
                samples.append(time.perf_counter() - started)
                self.expect_succeeded(job.pk)
        purge_queues()  # each create also sent a task; this process ran the job itself
        self.stdout.write(
            f"\n(a) Server-side overhead per job, create to succeeded, instant engine, 1280x720, "
            f"{count} jobs: {summary_ms(samples)}"
        )

    # --- (c) throughput -----------------------------------------------------------------------

    def bench_throughput(self, user: User, photo: Photo, count: int) -> None:
        jobs = [job_create(user=user, photo_id=photo.pk, kind=KIND) for _ in range(count)]
        purge_queues()
        started = time.perf_counter()
        for job in jobs:
            job_run(job_id=job.pk)
        elapsed = time.perf_counter() - started
        last = self.expect_succeeded(jobs[-1].pk)
        for job in jobs:
            self.expect_succeeded(job.pk)
        self.stdout.write(
            f"\n(c) Local engine, paid tier, {last.result_width}x{last.result_height}, {count} jobs in "
            f"sequence in one process: {elapsed / count:.2f} s a job, {count / elapsed * 60:.1f} jobs/minute"
        )

    # --- (b) latency ----------------------------------------------------------------------------

    def bench_latency(
        self, paid: User, paid_photo: Photo, free: User, free_photo: Photo, free_jobs: int, samples: int
    ) -> None:
        purge_queues()
        for _ in range(free_jobs):
            job_create(user=free, photo_id=free_photo.pk, kind=KIND)  # each queued on commit
        self.start_worker()
        loaded = [self.paid_latency(paid, paid_photo) for _ in range(max(1, samples))]
        ahead = Job.objects.filter(owner=free, status=JobStatus.QUEUED).count()
        free_done = Job.objects.filter(owner=free, status=JobStatus.SUCCEEDED)
        free_times = [(j.finished_at - j.started_at).total_seconds() for j in free_done if j.started_at]
        purge_queues()  # the free jobs still waiting; the one running finishes
        self.wait_idle(free)
        idle = [self.paid_latency(paid, paid_photo) for _ in range(max(1, samples))]
        ratio = statistics.median(loaded) / statistics.median(idle)
        verdict = "PASS" if ratio <= TARGET_LATENCY_RATIO else "MISS"
        self.stdout.write(
            f"\n(b) Paid job latency (finished_at - queued_at), one worker (solo pool), "
            f"{free_jobs} free jobs queued first:\n"
            f"    behind the free queue: {', '.join(f'{v:.2f}' for v in loaded)} s "
            f"(median {statistics.median(loaded):.2f} s; {ahead} free jobs still queued after them; "
            f"a free job ran {statistics.median(free_times) if free_times else 0:.2f} s)\n"
            f"    idle queue:            {', '.join(f'{v:.2f}' for v in idle)} s "
            f"(median {statistics.median(idle):.2f} s)\n"
            f"    ratio {ratio:.2f}  target <= {TARGET_LATENCY_RATIO}  {verdict}"
        )

    def paid_latency(self, user: User, photo: Photo) -> float:
        job = job_create(user=user, photo_id=photo.pk, kind=KIND)
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_final:
                if job.status != JobStatus.SUCCEEDED:
                    raise CommandError(f"Paid job {job.pk} ended {job.status}: {job.error_message}")
                return latency_s(job)
            time.sleep(0.02)
        raise CommandError(f"Paid job {job.pk} did not finish within {JOB_TIMEOUT_S} s.{self.worker_tail()}")

    def wait_idle(self, free: User) -> None:
        """Until the free job the worker held when the queue was purged has finished."""
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while Job.objects.filter(owner=free, status=JobStatus.RUNNING).exists():
            if time.monotonic() > deadline:
                raise CommandError(f"The worker did not go idle.{self.worker_tail()}")
            time.sleep(0.05)

    def expect_succeeded(self, job_id: int) -> Job:
        job = Job.objects.get(pk=job_id)
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Job {job.pk} ended {job.status}: {job.error_code} {job.error_message}")
        return job

    # --- the worker ---------------------------------------------------------------------------

    def start_worker(self) -> None:
        """One real worker, this process's environment, consuming paid work first."""
        hostname = f"queue-bench-{os.getpid()}"
        cmd = [
            sys.executable, "-m", "celery", "-A", "rekindle", "worker",
            "-Q", "priority,standard", "--pool", "solo", "-c", "1",
            "--hostname", f"{hostname}@%h", "--without-gossip", "--without-mingle", "--loglevel", "INFO",
        ]  # fmt: skip
        # The log goes to a file: a pipe nobody reads fills up and stalls the worker.
        self.worker = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
            cmd,
            cwd=settings.BASE_DIR,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=self.worker_log,
            stderr=subprocess.STDOUT,
        )
        destination = [f"{hostname}@{os.uname().nodename}"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise CommandError(f"The celery worker exited early.{self.worker_tail()}")
            if app.control.ping(timeout=0.5, destination=destination):
                return
        raise CommandError(f"The celery worker did not answer within 60 s.{self.worker_tail()}")

    def stop_worker(self) -> None:
        if self.worker is None or self.worker.poll() is not None:
            return
        self.worker.terminate()  # warm shutdown: the job in hand finishes first
        try:
            self.worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.worker.kill()
            self.worker.wait()

    def worker_tail(self) -> str:
        self.worker_log.flush()
        with open(self.worker_log.name, "rb") as fh:
            return "\n--- worker log ---\n" + fh.read()[-3000:].decode(errors="replace")
