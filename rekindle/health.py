"""Health endpoints for load balancers and orchestrators.

``/healthz`` says the process answers. ``/readyz`` checks what a request needs: the
database, the broker and the file storage; it answers 503 naming each failing part. The storage
check writes and deletes a file, so its outcome is kept for ``STORAGE_CHECK_TTL_S`` per
process: anyone may call ``/readyz`` as often as they like without writing to storage each time.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from rekindle.celery import app as celery_app

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 2.0
# A load balancer probes every few seconds; storage is written at most this often per process.
STORAGE_CHECK_TTL_S = 30.0


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
        # Opening a channel is a real round trip: a stopped broker fails here.
        conn.default_channel.close()


def _probe_storage() -> None:
    name = default_storage.save(f"health/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    default_storage.delete(name)


class _Remembered:
    """The last outcome of a check and when it was taken (failures are kept too, so a flood
    of probes during an outage does not hammer the storage either)."""

    def __init__(self, check: Callable[[], None], ttl: float) -> None:
        self.check, self.ttl = check, ttl
        self.lock = threading.Lock()
        self.at: float | None = None
        self.error: Exception | None = None

    def __call__(self) -> None:
        with self.lock:
            now = time.monotonic()
            if self.at is None or now - self.at >= self.ttl:
                try:
                    self.check()
                except Exception as exc:  # kept and re-raised to every caller until it expires
                    self.error = exc
                else:
                    self.error = None
                self.at = now
            if self.error is not None:
                raise self.error

    def forget(self) -> None:
        with self.lock:
            self.at, self.error = None, None


check_storage = _Remembered(_probe_storage, STORAGE_CHECK_TTL_S)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # any failure means "not ready"; the reason goes to the log
            logger.warning("readiness check failed", extra={"check": name, "error": repr(exc)})
            results[name] = f"failing: {type(exc).__name__}"
        else:
            results[name] = "ok"
    failing = [name for name, state in results.items() if state != "ok"]
    body = {"status": "ok" if not failing else "unavailable", "checks": results, "failing": failing}
    return JsonResponse(body, status=503 if failing else 200)
