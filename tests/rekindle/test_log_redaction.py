"""No log line carries an email address, a password or a share / hand-off / reset token:
not ours, not django-axes' on a failed sign-in, not Django's "Not Found", not gunicorn's
access log."""

from __future__ import annotations

import io
import logging
import runpy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import reverse
from gunicorn.config import Config

from rekindle.logging import RedactFilter, redact

ROOT = Path(__file__).resolve().parents[2]
SHARE_TOKEN = "Zq8sLw3N0pXr7TbYc2Vd"
HANDOFF_TOKEN = "Hn4aKe9Qm2Ws6Ux1Yz5B"
RESET_TOKEN = "cbxq1r-8d0e9f3a2b1c4d5e6f7a8b9c0d1e2f3a"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the configured console handler (settings.LOGGING) writes, as it writes it."""
    handlers = [
        h for h in logging.getLogger().handlers if any(isinstance(f, RedactFilter) for f in h.filters)
    ]
    assert handlers, "the console handler is configured with the redact filter"
    buffer = io.StringIO()
    # Swapped directly: setStream() would flush the old stream, which an earlier test's
    # output capture may already have closed.
    previous = [h.stream for h in handlers]
    for handler in handlers:
        handler.stream = buffer
    yield buffer
    for handler, stream in zip(handlers, previous, strict=True):
        handler.stream = stream


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Not Found: /s/Zq8sLw3N0pXr7TbYc2Vd/", SHARE_TOKEN),
        ("GET /s/Zq8sLw3N0pXr7TbYc2Vd/preview.jpg HTTP/1.1", SHARE_TOKEN),
        ("GET /h/Hn4aKe9Qm2Ws6Ux1Yz5B/ HTTP/1.1", HANDOFF_TOKEN),
        ("GET /media/s/eyJuIjoieCJ9:1abc:sig/ HTTP/1.1", "eyJuIjoieCJ9:1abc:sig"),
        (f"GET /accounts/password/reset/MQ/{RESET_TOKEN}/ HTTP/1.1", RESET_TOKEN),
        ("failed sign-in for Ada.Lovelace+old@example.co.uk", "Ada.Lovelace+old@example.co.uk"),
        ("GET /accounts/password/reset/?email=ada%40example.com HTTP/1.1", "ada%40example.com"),
        ("GET /complete/auth0/?code=abc123&state=xyz789 HTTP/1.1", "abc123"),
        ("Bearer rk_ab12cd_s3cretS3cret-value", "s3cretS3cret"),
    ],
)
def test_redact_removes_secrets_and_keeps_the_rest(line, secret):
    cleaned = redact(line)
    assert secret not in cleaned
    assert "[redacted]" in cleaned or "[email]" in cleaned


def test_redact_leaves_ordinary_paths_alone():
    assert redact("GET /photos/12/ HTTP/1.1") == "GET /photos/12/ HTTP/1.1"
    assert (
        redact("GET /accounts/password/reset/sent/ HTTP/1.1") == "GET /accounts/password/reset/sent/ HTTP/1.1"
    )


@pytest.mark.django_db
def test_failed_sign_ins_and_the_lockout_log_no_email_or_password(log_output, user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        Client().post(
            reverse("accounts:login"),
            {"username": user.email, "password": "Wrong-Secret-Phrase-42"},
            REMOTE_ADDR="203.0.113.5",
        )
    logged = log_output.getvalue()
    assert "AXES" in logged and "Locking out" in logged  # the lines were written ...
    assert user.email not in logged  # ... without the address that was typed
    assert user.email.split("@")[0] not in logged
    assert "Wrong-Secret-Phrase-42" not in logged


@pytest.mark.django_db
def test_requests_to_token_urls_log_no_token(log_output):
    Client().get(f"/s/{SHARE_TOKEN}/")
    Client().get(f"/h/{HANDOFF_TOKEN}/")
    logged = log_output.getvalue()
    assert "Not Found: /s/[redacted]/" in logged
    assert "Not Found: /h/[redacted]/" in logged
    assert SHARE_TOKEN not in logged and HANDOFF_TOKEN not in logged


def test_extra_fields_are_redacted_too(log_output):
    logging.getLogger("rekindle.test").warning("hello", extra={"who": "someone@example.com"})
    logged = log_output.getvalue()
    assert "hello" in logged
    assert "someone@example.com" not in logged


def test_gunicorns_access_log_through_our_config_names_no_token_or_email(tmp_path):
    # Load gunicorn.conf.py as gunicorn does, then write one access line to a file.
    cfg = Config()
    for name, value in runpy.run_path(str(ROOT / "gunicorn.conf.py")).items():
        if name in cfg.settings:
            cfg.set(name, value)
    access = tmp_path / "access.log"
    cfg.set("accesslog", str(access))
    logger = cfg.logger_class(cfg)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/accounts/password/reset/MQ/{RESET_TOKEN}/?email=ada%40example.com",
        "PATH_INFO": f"/accounts/password/reset/MQ/{RESET_TOKEN}/",
        "QUERY_STRING": "email=ada%40example.com",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.5",
        "HTTP_REFERER": f"https://rekindle.example/s/{SHARE_TOKEN}/",
    }
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    logger.access(response, request, environ, timedelta(milliseconds=5))
    for handler in logger.access_log.handlers:
        handler.flush()
    line = access.read_text()
    assert "GET /accounts/password/reset/[redacted]" in line
    assert RESET_TOKEN not in line and SHARE_TOKEN not in line and "ada%40example.com" not in line
