"""Production mode refuses to start half-configured, and passes `check --deploy` when set up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 60 + "-a-long-random-production-secret",
    "ALLOWED_HOSTS": "rekindle.example",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
}


def _manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    drop = {"DATABASE_URL", "REDIS_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "REKINDLE_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY must be set when DEBUG is off."),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS must be set when DEBUG is off."),
        ("DATABASE_URL", "DATABASE_URL must point at a real database when DEBUG is off."),
    ],
)
def test_production_refuses_to_start_without_essentials(tmp_path, missing, message):
    env = {k: v for k, v in PROD_ENV.items() if k != missing}
    result = _manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_refuses_the_embedded_development_key(tmp_path):
    env = {**PROD_ENV, "SECRET_KEY": "insecure-embedded-default-key-do-not-use-in-production"}
    result = _manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_embedded_default_needs_no_variables(tmp_path):
    result = _manage("check", env={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
