"""Structured logs: a request id on every line, returned to the client as a header.

The id comes from the incoming ``X-Request-ID`` when it looks sane (so a proxy's id carries
through) or is made fresh. It lives in a context variable, so log lines written anywhere
while handling the request carry it; Celery tasks set ``job_id`` and ``task_id`` the same
way, and a Celery worker names itself once (``worker``: its hostname and a start token), so
its lines say which worker process group wrote them.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
job_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("job_id", default="-")
task_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("task_id", default="-")
# "-" outside Celery workers; set once per worker start by processing.worker.
_worker_name = "-"


def set_worker_name(name: str) -> None:
    global _worker_name
    _worker_name = name


REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class ContextFilter(logging.Filter):
    """Adds the current request, job and task ids and the worker's name to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.job_id = job_id_var.get()
        record.task_id = task_id_var.get()
        record.worker = _worker_name
        return True


class RequestIdMiddleware:
    """Sets the request id for the duration of a request and echoes it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        # Not reset on the way out: Django logs 4xx/5xx responses after the middleware chain
        # returns, and those lines need the id too. `request_finished` clears it.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _clear_request_id(**kwargs: object) -> None:
    request_id_var.set("-")


request_finished.connect(_clear_request_id, dispatch_uid="rekindle.logging.clear_request_id")
