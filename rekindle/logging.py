"""Structured logs: a request id on every line, returned to the client as a header; nothing
secret or personal on any line.

The id comes from the incoming ``X-Request-ID`` when it looks sane (so a proxy's id carries
through) or is made fresh. It lives in a context variable, so log lines written anywhere
while handling the request carry it; Celery tasks set ``job_id`` and ``task_id`` the same
way, and a Celery worker names itself once (``worker``: its hostname and a start token), so
its lines say which worker process group wrote them.

``redact`` takes email addresses, share / hand-off / signed-media / password-reset tokens in
paths, API tokens and secret query parameters out of a line. ``RedactFilter`` applies it to
every record our handlers write (Django's "Not Found: /s/<token>/", django-axes, our own), and
``RedactingGunicornLogger`` to gunicorn's access log, which prints request paths and referers.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse
from gunicorn.glogging import Logger as GunicornLogger

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


REDACTED = "[redacted]"
_REDACTIONS: list[tuple[re.Pattern[str], str]] = [
    # Email addresses, also percent-encoded in a query string.
    (re.compile(r"[\w.+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.IGNORECASE), "[email]"),
    # Password-reset links: /accounts/password/reset/<uidb64>/<token>/.
    (re.compile(r"(/password/reset/)(?!sent/|complete/)[^/\s?#\"']+/[^/\s?#\"']+"), rf"\g<1>{REDACTED}"),
    # Share pages /s/<token>/, phone hand-offs /h/<token>/ and signed media /media/s/<token>/.
    (re.compile(r"(/[sh]/)[^/\s?#\"']+"), rf"\g<1>{REDACTED}"),
    # Personal API tokens (rk_<prefix>_<secret>).
    (re.compile(r"\brk_[A-Za-z0-9]+_[A-Za-z0-9_-]+"), f"rk_{REDACTED}"),
    # Secrets in query strings (OAuth code/state, tokens, passwords).
    (
        re.compile(r"([?&](?:token|password|secret|key|code|state|email)=)[^&\s#\"']+", re.IGNORECASE),
        rf"\g<1>{REDACTED}",
    ),
]


def redact(text: str) -> str:
    """The line with email addresses, tokens and secret parameters replaced."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RedactFilter(logging.Filter):
    """Redacts the message, its arguments and every ``extra`` field of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_ATTRS:
                setattr(record, name, _redact_value(value))
        return True


def _redact_value(value: object) -> object:
    # Extras are shown as they are (numbers, lists, dicts in JSON) or as str() (a request
    # object prints its path), so each kind is redacted in the shape the formatter will use.
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return redact(str(value))


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger with every access-log field (request line, path, query, referer)
    redacted; set in gunicorn.conf.py."""

    def atoms(self, resp: object, req: object, environ: dict, request_time: object) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}


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
