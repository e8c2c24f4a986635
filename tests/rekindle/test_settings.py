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


@pytest.mark.parametrize(
    "public_key",
    [
        "insecure-embedded-default-key-do-not-use-in-production",  # the development key
        "change-me-to-a-long-random-string",  # the .env.example placeholder
    ],
)
def test_production_refuses_a_secret_key_anyone_can_read(tmp_path, public_key):
    env = {**PROD_ENV, "SECRET_KEY": public_key}
    result = _manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_the_key_written_in_env_example(tmp_path):
    placeholder = next(
        line.split("=", 1)[1]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.startswith("SECRET_KEY=")
    )
    result = _manage("check", env={**PROD_ENV, "SECRET_KEY": placeholder}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_without_debug_set_the_settings_are_production_mode(tmp_path):
    # No variables at all: production mode, which refuses to start without a secret key.
    result = _manage("check", env={}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off." in result.stderr


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_embedded_default_needs_only_debug(tmp_path):
    # What `make run` sets (scripts/run-embedded.sh, the Makefile); nothing else is needed.
    result = _manage("check", env={"DEBUG": "true"}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_embedded_default_runs_with_debug_off_and_no_production_variables(tmp_path):
    # `make run` sets EMBEDDED=true and nothing else: no secret key, hosts or database needed,
    # yet DEBUG is off (our own error pages) and plain HTTP on localhost works.
    script = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.ALLOWED_HOSTS, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, "
        "s.DATABASES['default']['ENGINE'])"
    )
    result = _manage("shell", "-c", script, env={"EMBEDDED": "true"}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "False ['localhost', '127.0.0.1', '[::1]'] False False django.db.backends.sqlite3"
    )


@pytest.mark.django_db
def test_the_demo_account_is_made_on_the_embedded_default_but_not_in_production(settings):
    from django.core.management import CommandError, call_command

    from accounts.models import User

    settings.DEBUG, settings.LOCAL_DEFAULTS = False, False
    with pytest.raises(CommandError, match="local use only"):
        call_command("ensure_demo_user")
    settings.LOCAL_DEFAULTS = True  # EMBEDDED=true, DEBUG still off
    call_command("ensure_demo_user")
    assert User.objects.filter(email__iexact="demo@rekindle.local").exists()


S3_ENV = {**PROD_ENV, "AWS_STORAGE_BUCKET_NAME": "rekindle-media", "AWS_S3_REGION_NAME": "eu-west-1"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEDIA_CLOUDFRONT_DOMAIN": "media.rekindle.example"}, "MEDIA_CLOUDFRONT_DOMAIN needs"),
        ({"AWS_S3_SSE": "DES"}, 'AWS_S3_SSE is "AES256", "aws:kms" or "" (off).'),
        ({"AWS_S3_SSE": "AES256", "AWS_S3_SSE_KMS_KEY_ID": "key"}, "AWS_S3_SSE_KMS_KEY_ID needs"),
    ],
)
def test_media_encryption_and_cdn_settings_refuse_half_configurations(tmp_path, env, message):
    result = _manage("check", env={**S3_ENV, **env}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr


def test_on_aws_the_pages_may_reach_the_bucket_and_the_cdn_and_media_is_encrypted(tmp_path):
    env = {
        **S3_ENV,
        "AWS_S3_SSE_KMS_KEY_ID": "alias/rekindle",
        "MEDIA_CLOUDFRONT_DOMAIN": "media.rekindle.example",
        "AWS_CLOUDFRONT_KEY_ID": "K2JCJMDEHXQW5F",
        "AWS_CLOUDFRONT_KEY": "-----BEGIN PRIVATE KEY-----\\nMII...\\n-----END PRIVATE KEY-----",
    }
    script = (
        "from django.conf import settings as s; d = s.CONTENT_SECURITY_POLICY['DIRECTIVES']; "
        "print(d['connect-src']); print(d['img-src']); print(s.AWS_S3_SSE, s.AWS_S3_CUSTOM_DOMAIN); "
        "print(s.STORAGES['default']['BACKEND'], s.AWS_CLOUDFRONT_KEY.count(b'\\n'))"
    )
    result = _manage("shell", "-c", script, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    connect, img, sse, backend = result.stdout.strip().splitlines()[-4:]
    for origin in (
        "https://s3.eu-west-1.amazonaws.com",  # presigned POSTs (path style)
        "https://rekindle-media.s3.eu-west-1.amazonaws.com",  # virtual-hosted style
        "https://media.rekindle.example",  # CloudFront
    ):
        assert origin in connect and origin in img
    assert sse == "aws:kms media.rekindle.example"  # a KMS key alone means aws:kms
    assert backend == "photos.s3.PrivateS3Storage 2"  # the key's "\n" escapes became newlines


@pytest.mark.parametrize(("flag", "expected"), [("true", "True"), ("false", "None")])
def test_behind_pgbouncer_no_cursor_outlives_a_transaction(tmp_path, flag, expected):
    # PgBouncer's transaction pooling may hand each transaction another server connection.
    code = (
        "from django.conf import settings; "
        "print(settings.DATABASES['default'].get('DISABLE_SERVER_SIDE_CURSORS'))"
    )
    result = _manage("shell", "-c", code, env={**PROD_ENV, "DB_BEHIND_PGBOUNCER": flag}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected
