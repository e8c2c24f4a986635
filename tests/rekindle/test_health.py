"""/healthz, /readyz (naming what is down), request ids and JSON logs."""

from __future__ import annotations

import json
import logging

import pytest

from rekindle import health
from rekindle.celery import app as celery_app

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_storage_check():
    """The storage check's outcome is kept for a while; each test starts without one."""
    health.check_storage.forget()
    yield
    health.check_storage.forget()


def test_healthz_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ok_when_database_broker_and_storage_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "ok"}


def test_readyz_names_a_stopped_broker(client, monkeypatch):
    # Port 9 (discard) has no Redis: the same as a stopped broker.
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:9/0")
    monkeypatch.setattr(health, "BROKER_TIMEOUT_S", 0.5)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["database"] == "ok"


def test_readyz_names_unwritable_storage(client, settings, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the media folder should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker / "media")},
        },
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["storage"]


def test_readyz_names_a_stopped_database(client, monkeypatch):
    def broken() -> None:
        from django.db import OperationalError

        raise OperationalError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]


def test_every_response_carries_a_request_id(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert len(first) == 32
    assert first != second


def test_a_sane_incoming_request_id_is_kept_and_a_hostile_one_replaced(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-abc12345")["X-Request-ID"] == "lb-abc12345"
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="bad\nid with spaces")["X-Request-ID"]
    assert replaced != "bad\nid with spaces"
    assert len(replaced) == 32


def test_log_lines_are_json_with_the_request_id(client, capsys):
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    response = client.get("/nope-not-a-page", HTTP_X_REQUEST_ID="trace-12345678")
    assert response.status_code == 404
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    warning = next(line for line in lines if line["logger"] == "django.request")
    assert warning["request_id"] == "trace-12345678"
    assert warning["level"] == "WARNING"


def test_readyz_writes_to_storage_at_most_once_per_interval(client, monkeypatch, _isolated_media):
    probes = []

    def probe() -> None:
        probes.append(1)
        health._probe_storage()  # the real write and delete

    monkeypatch.setattr(health.check_storage, "check", probe)
    for _ in range(5):
        assert client.get("/readyz").json()["checks"]["storage"] == "ok"
    assert len(probes) == 1
    assert not [p for p in _isolated_media.rglob("*") if p.is_file()]  # nothing left behind
    # Once the interval has passed, the next call checks again.
    monkeypatch.setattr(health.check_storage, "ttl", 0.0)
    client.get("/readyz")
    assert len(probes) == 2


def test_a_storage_failure_is_remembered_for_the_interval_too(client, monkeypatch):
    calls = []

    def failing() -> None:
        calls.append(1)
        raise OSError("disk full")

    monkeypatch.setattr(health.check_storage, "check", failing)
    for _ in range(3):
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["failing"] == ["storage"]
    assert len(calls) == 1
