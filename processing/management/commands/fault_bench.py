"""``python manage.py fault_bench``: whole workers die mid-job; does every job still finish once?

Needs PostgreSQL and Redis (``DATABASE_URL``, ``REDIS_URL``) and the repository checkout (the
workers load ``tests/slow_engine.py``, which makes the local engine take ``--engine-delay``
seconds more per job, so kills land mid-job, and counts engine runs per job). Run it against a
throwaway database, never production.

It makes ``--people`` throwaway users (``fault-<uuid>@example.invalid``, some on a paid plan so
both queues are used) with credits and one ready photo each, starts ``--workers`` real
``celery worker --concurrency N`` process groups plus one ``celery beat``, creates ``--jobs``
jobs of all three kinds, and ``--kills`` times, at random moments while work remains, SIGKILLs a
random worker's whole process group (an OOM kill, a lost node) and restarts it after
``--restart-after`` seconds. Then it waits for every job and prints: jobs stranded, time from
each kill to the finish of every job the killed worker held (p50/p95/max), engine runs per job,
charges and refunds per job, the ``credits_audit`` result and orphan result files.

Liveness settings are the process's own (``JOB_HEARTBEAT_S``, ``JOB_HEARTBEAT_STALE_S``,
``JOB_SWEEP_INTERVAL_S`` from the environment, production defaults otherwise); they are
printed. Everything it made is removed at the end, also when it fails. Figures, not tests.
"""

from __future__ import annotations

import io
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import User
from credits.models import CreditTransaction, Membership
from credits.plans import job_price
from credits.services import credits_grant
from photos.models import Photo, PhotoStatus
from photos.services import photo_preprocess, photo_upload
from processing.management.bench import bench_users_delete
from processing.management.commands.queue_bench import bench_jpeg, purge_queues
from processing.models import FINAL_STATUSES, Job
from processing.services import job_create
from rekindle.celery import app

RUNS_KEY = "tests:engine-runs"  # tests/slow_engine.py
TARGET_MAX_RECOVERY_S = 120

# The single-photo picture kinds every engine here performs.
BENCH_KINDS = ("restore", "colourize", "restore_colourize")


@dataclass
class Worker:
    index: int
    generation: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Any = None
    hostname: str = ""


@dataclass
class Kill:
    at: datetime
    worker: str
    jobs: list[int] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Command(BaseCommand):
    help = "SIGKILL whole workers at random moments; report stranded jobs, recovery times and the ledger."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=2, help="worker process groups")
        parser.add_argument("--concurrency", type=int, default=2, help="pool processes per worker")
        parser.add_argument("--people", type=int, default=5)
        parser.add_argument("--jobs", type=int, default=60)
        parser.add_argument("--kills", type=int, default=3)
        parser.add_argument("--engine-delay", type=float, default=3.0, help="extra seconds per engine run")
        parser.add_argument("--restart-after", type=float, default=2.0, help="seconds before a restart")
        parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting after this")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.REDIS_URL or "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
            raise CommandError(
                "fault_bench needs PostgreSQL and Redis: set DATABASE_URL to a throwaway database and "
                "REDIS_URL (e.g. redis://127.0.0.1:6379/14), then run it again."
            )
        if settings.ENGINE != "local":
            raise CommandError(f"fault_bench runs the local engine; ENGINE is {settings.ENGINE!r}.")
        if not (settings.BASE_DIR / "tests" / "slow_engine.py").exists():
            raise CommandError("fault_bench needs the repository checkout (tests/slow_engine.py).")
        for name in ("workers", "concurrency", "people", "jobs"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1.")
        self.options = options
        self.rng = random.Random(options["seed"])  # noqa: S311 -- kill timing, not secrets
        self.redis = redis.Redis.from_url(settings.REDIS_URL)
        self.tmp = tempfile.TemporaryDirectory(prefix="fault_bench-")
        self.user_ids: list[int] = []
        self.workers = [Worker(index=i) for i in range(options["workers"])]
        self.beat: subprocess.Popen[bytes] | None = None
        self.stdout.write(
            f"{os.cpu_count()} cores; database {settings.DATABASES['default']['NAME']}, broker "
            f"{settings.REDIS_URL}; {options['workers']} workers x concurrency {options['concurrency']}, "
            f"{options['jobs']} jobs, {options['kills']} kills, engine +{options['engine_delay']} s/job\n"
            f"Liveness: heartbeat every {settings.JOB_HEARTBEAT_S} s, silent after "
            f"{settings.JOB_HEARTBEAT_STALE_S} s, sweep every {settings.JOB_SWEEP_INTERVAL_S} s; "
            f"purged {purge_queues()} leftover message(s)"
        )
        try:
            self.run_bench()
        finally:
            self.stop_all()
            purge_queues()
            self.clean_up()
            self.tmp.cleanup()

    # --- the run ------------------------------------------------------------------------

    def run_bench(self) -> None:
        options = self.options
        people = self.make_people(options["people"], options["jobs"])
        self.redis.delete(RUNS_KEY)
        purge_queues()  # the uploads' preprocessing tasks: already done here
        for worker in self.workers:
            self.start_worker(worker)
        self.start_beat()
        kinds = list(BENCH_KINDS)
        job_ids = []
        for i in range(options["jobs"]):
            user, photo = people[i % len(people)]
            job_ids.append(job_create(user=user, photo_id=photo.pk, kind=kinds[i % len(kinds)]).pk)
        started = time.monotonic()
        kills: list[Kill] = []
        for _ in range(options["kills"]):
            # A random moment while work remains: roughly spread over the expected run.
            time.sleep(self.rng.uniform(2.0, 10.0))
            if not self.open_jobs(job_ids):
                break
            kills.append(self.kill_and_restart(self.rng.choice(self.workers)))
        deadline = started + options["timeout"]
        while self.open_jobs(job_ids) and time.monotonic() < deadline:
            time.sleep(1.0)
        self.report(job_ids, kills, time.monotonic() - started)

    def open_jobs(self, job_ids: list[int]) -> int:
        return Job.objects.filter(pk__in=job_ids).exclude(status__in=FINAL_STATUSES).count()

    def kill_and_restart(self, worker: Worker) -> Kill:
        held = list(
            Job.objects.filter(worker__startswith=f"{worker.hostname}#")
            .exclude(status__in=FINAL_STATUSES)
            .values_list("pk", flat=True)
        )
        kill = Kill(at=timezone.now(), worker=worker.hostname, jobs=held)
        assert worker.proc is not None
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
        self.stdout.write(f"  {kill.at:%H:%M:%S} SIGKILL {worker.hostname}: it held jobs {held}")
        time.sleep(self.options["restart_after"])
        self.start_worker(worker)
        return kill

    # --- figures --------------------------------------------------------------------------

    def report(self, job_ids: list[int], kills: list[Kill], elapsed: float) -> None:
        jobs = {j.pk: j for j in Job.objects.filter(pk__in=job_ids)}
        stranded = [pk for pk, j in jobs.items() if not j.is_final]
        statuses = Counter(j.status for j in jobs.values())
        recoveries = [
            (jobs[pk].finished_at - kill.at).total_seconds()
            for kill in kills
            for pk in kill.jobs
            if pk in jobs and jobs[pk].finished_at
        ]
        runs = Counter(int(r) for r in self.redis.lrange(RUNS_KEY, 0, -1))
        runs_per_job = Counter(runs.get(pk, 0) for pk in job_ids)
        ledger = Counter(
            (row.job_id, row.kind) for row in CreditTransaction.objects.filter(job_id__in=job_ids)
        )
        charges = Counter(ledger.get((pk, "charge"), 0) for pk in job_ids)
        refunds = Counter(ledger.get((pk, "refund"), 0) for pk in job_ids)
        audit = io.StringIO()
        try:
            call_command("credits_audit", stdout=audit)
            audit_result = "clean"
        except CommandError:
            audit_result = "FAILED"
        orphans = self.orphan_files(jobs.values())
        worst = max(recoveries) if recoveries else 0.0
        verdict = "PASS" if not stranded and worst <= TARGET_MAX_RECOVERY_S else "MISS"
        held = sum(len(k.jobs) for k in kills)
        self.stdout.write(
            f"\nAll jobs settled in {elapsed:.0f} s: {dict(statuses)}\n"
            f"Jobs stranded: {len(stranded)} {stranded if stranded else ''}\n"
            f"Kills: {len(kills)}, holding {held} job(s) between them\n"
            + (
                f"Kill to finish of a held job: p50 {statistics.median(recoveries):.1f} s, "
                f"p95 {percentile(recoveries, 0.95):.1f} s, max {worst:.1f} s ({len(recoveries)} jobs)\n"
                if recoveries
                else "Kill to finish of a held job: no job was held at a kill\n"
            )
            + f"Engine runs per job: {dict(sorted(runs_per_job.items()))} (runs: jobs)\n"
            f"Charges per job: {dict(sorted(charges.items()))}; refunds per job: "
            f"{dict(sorted(refunds.items()))}\n"
            f"credits_audit: {audit_result} ({audit.getvalue().strip().splitlines()[-1]})\n"
            f"Orphan result files: {len(orphans)}\n"
            f"Target: 0 stranded, max recovery <= {TARGET_MAX_RECOVERY_S} s: {verdict}"
        )

    def orphan_files(self, jobs: Any) -> list[str]:
        """Result files in the bench users' folders that no job points at."""
        known = {name for j in jobs for name in j.result_files}
        orphans = []
        for user_id in self.user_ids:
            try:
                _, files = default_storage.listdir(f"results/{user_id}")
            except FileNotFoundError:
                continue
            orphans += [f"results/{user_id}/{n}" for n in files if f"results/{user_id}/{n}" not in known]
        return orphans

    # --- people -------------------------------------------------------------------------------

    def make_people(self, count: int, jobs: int) -> list[tuple[User, Photo]]:
        jpeg = bench_jpeg()
        people = []
        for i in range(count):
            email = f"fault-{uuid.uuid4()}@example.invalid"
            user = User.objects.create_user(email=email, notify_by_email=False)
            self.user_ids.append(user.pk)
            credits_grant(
                user=user,
                amount=(jobs // count + 1) * max(job_price(k) for k in BENCH_KINDS),
                key=f"bench:{uuid.uuid4()}",
                reason="fault_bench credits",
            )
            if i % 2:  # every other person pays: both queues carry work
                Membership.objects.create(user=user, plan="cherish", status="active")
            photo = photo_preprocess(
                photo_id=photo_upload(user=user, file=io.BytesIO(jpeg), size=len(jpeg), name="f.jpg").pk
            )
            if photo is None or photo.status != PhotoStatus.READY:
                raise CommandError("The bench photo did not become ready.")
            people.append((user, photo))
        return people

    def clean_up(self) -> None:
        bench_users_delete(self.user_ids)
        for user_id in self.user_ids:  # orphans, if any
            try:
                _, files = default_storage.listdir(f"results/{user_id}")
            except FileNotFoundError:
                continue
            for name in files:
                default_storage.delete(f"results/{user_id}/{name}")
        self.redis.delete(RUNS_KEY)
        self.stdout.write(f"\nRemoved {len(self.user_ids)} bench user(s) and their files.")

    # --- processes ------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        delay = str(self.options["engine_delay"])
        return {**os.environ, "PYTHONUNBUFFERED": "1", "TEST_ENGINE_DELAY_S": delay}

    def start_worker(self, worker: Worker) -> None:
        worker.generation += 1
        worker.hostname = f"fault-{os.getpid()}-w{worker.index}-g{worker.generation}@{os.uname().nodename}"
        worker.log = open(f"{self.tmp.name}/{worker.hostname}.log", "wb")  # noqa: SIM115
        cmd = [
            sys.executable, "-m", "celery", "-A", "rekindle", "worker", "-Q", "priority,standard",
            "--concurrency", str(self.options["concurrency"]), "--hostname", worker.hostname,
            "--include", "tests.slow_engine", "--without-gossip", "--without-mingle", "--loglevel", "INFO",
        ]  # fmt: skip
        # Its own process group, so a kill takes the main process and its pool together.
        worker.proc = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
            cmd, cwd=settings.BASE_DIR, env=self.env(), stdout=worker.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if worker.proc.poll() is not None:
                raise CommandError(f"Worker {worker.hostname} exited early; log in {worker.log.name}")
            if app.control.ping(timeout=0.5, destination=[worker.hostname]):
                return
        raise CommandError(f"Worker {worker.hostname} did not answer within 60 s.")

    def start_beat(self) -> None:
        cmd = [
            sys.executable, "-m", "celery", "-A", "rekindle", "beat", "--loglevel", "INFO",
            "--schedule", f"{self.tmp.name}/beat-schedule",
        ]  # fmt: skip
        self.beat = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
            cmd, cwd=settings.BASE_DIR, env=self.env(), stdout=open(f"{self.tmp.name}/beat.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def stop_all(self) -> None:
        procs = [w.proc for w in self.workers if w.proc is not None] + ([self.beat] if self.beat else [])
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
