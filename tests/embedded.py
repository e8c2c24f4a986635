"""The embedded default as real processes: a fresh var/ folder, no DATABASE_URL or REDIS_URL;
migrate on SQLite, then gunicorn and a Celery worker on the filesystem transport."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _embedded_env(var_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG"}
    }
    # As `make run` does: DEBUG off (our own error pages), production's demands waived.
    env.update(
        {"REKINDLE_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1", "LOG_FORMAT": "text", "EMBEDDED": "true"}
    )
    return env


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 60, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text() if log else ''}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:  # not listening yet, or still starting up
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> Iterator[tuple[str, dict[str, str], Path]]:
    var_dir = tmp_path_factory.mktemp("embedded-var")
    env = _embedded_env(var_dir)
    for args in (["migrate", "--noinput"], ["createcachetable"], ["ensure_demo_user"]):
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True
        )
    port = _free_port()
    # Output goes to files, never to a pipe nobody drains: once a pipe's buffer is full every
    # write blocks, and the server stops answering mid-test.
    web_log = (var_dir / "web.log").open("w")
    worker_log = (var_dir / "worker.log").open("w")
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "rekindle.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "4", "--keep-alive", "2", "--graceful-timeout", "5",
         "--access-logfile", str(var_dir / "access.log")],
        cwd=ROOT, env=env, stdout=web_log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "rekindle", "worker", "--queues", "priority,standard",
         "--pool", "solo", "--include", "tests.celery_probe", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/healthz", web, log=var_dir / "web.log")
        yield base, env, var_dir
    finally:
        for proc in (web, worker):
            proc.terminate()
            proc.wait(timeout=20)
        web_log.close()
        worker_log.close()
    assert (var_dir / "rekindle.sqlite3").exists()
