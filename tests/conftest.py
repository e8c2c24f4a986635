"""Shared fixtures: isolated media, a clean cache, users, and a real Celery worker.

The suite runs on PostgreSQL and Redis (``make test`` sets ``DATABASE_URL`` and
``REDIS_URL``). Tests that need a worker use ``celery_worker``: a real ``celery worker``
process consuming from Redis and writing to the test database, so those tests use
``transactional_db`` (their rows must be committed for the worker to see them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from tests.embedded import embedded  # noqa: F401 -- the embedded default as real processes
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.processing.tiny_qwen import qwen_backend, tiny_qwen  # noqa: F401 -- the tiny Qwen pipeline (needs torch)
from tests.processing.tiny_wan import tiny_wan, tiny_wan_lora, wan_backend  # noqa: F401 -- the tiny Wan 2.2 pipeline (needs torch)
from tests.s3 import s3_storage, seaweedfs  # noqa: F401 -- SeaweedFS fixtures for tests that need S3

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path: Path) -> Path:
    """Each test writes media into its own folder (unless it configures S3 itself)."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    if not settings.USE_S3:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(media), "base_url": settings.MEDIA_URL},
            },
        }
    return media


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    """Throttling and rate-limit counters never leak from one test into the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def password() -> str:
    return DEFAULT_PASSWORD


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def signed_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_database_url() -> str:
    """The URL of the database pytest-django created, for processes started by tests."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("Worker tests need PostgreSQL (DATABASE_URL).")
    user = db.get("USER") or ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


test_database_url.__test__ = False  # not a test, despite the name


@pytest.fixture(scope="session")
def _redis_clean() -> None:
    """Start the session with empty queues in the suite's own Redis database."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()


def start_worker(
    *,
    queues: str = "priority,standard",
    name: str = "test",
    include: str = "",
    pool: str = "solo",
    concurrency: int = 1,
    extra_env: dict | None = None,
):
    """Start a real `celery worker` process against the test database and Redis."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    cmd = [
        sys.executable, "-m", "celery", "-A", "rekindle", "worker",
        "--queues", queues, "--pool", pool, "--concurrency", str(concurrency),
        "--hostname", f"{name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
        "--loglevel", "INFO",
    ]  # fmt: skip
    if include:
        cmd += ["--include", include]
    # Its own process group, so a test can SIGKILL or SIGSTOP the whole worker (os.killpg).
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    from rekindle.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{proc.stdout.read() if proc.stdout else ''}")
        replies = app.control.ping(timeout=0.5, destination=[f"{name}-{os.getpid()}@{os.uname().nodename}"])
        if replies:
            return proc
    proc.kill()
    raise RuntimeError("celery worker did not become ready within 60 s")


def stop_worker(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


@pytest.fixture
def celery_worker(transactional_db, _redis_clean, settings) -> Iterator[subprocess.Popen]:
    """A real Celery worker for one test; its log is printed if the test fails."""
    proc = start_worker()
    yield proc
    log = stop_worker(proc)
    sys.stdout.write(f"\n--- celery worker log ---\n{log[-5000:]}\n")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """Real hashing costs ~0.3 s a password; tests that check hashing don't need the cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
