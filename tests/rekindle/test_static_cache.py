"""Static files in production: WhiteNoise serves content-hashed names cached "forever"
(a changed file gets a new name), and anything unhashed only briefly."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.templatetags.static import static
from django.test import Client

FOREVER = 10 * 365 * 24 * 60 * 60  # WhiteNoise's max-age for immutable files


@pytest.fixture
def collected(settings, tmp_path):
    """The production static set-up: collectstatic to a fresh STATIC_ROOT, served from there."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    settings.DEBUG = False
    call_command("collectstatic", "--noinput", verbosity=0)
    return settings


def test_hashed_static_files_are_cached_for_years_and_plain_names_briefly(collected):
    client = Client()  # a fresh handler, so WhiteNoise reads the files collected above
    hashed = static("css/app.css")
    assert hashed != "/static/css/app.css" and hashed.startswith("/static/css/app.")  # content hash

    response = client.get(hashed, HTTP_ACCEPT_ENCODING="br, gzip")
    assert response.status_code == 200
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {f"max-age={FOREVER}", "public", "immutable"} <= cache_control
    assert response["Content-Encoding"] in ("br", "gzip")  # compressed copies made at collectstatic

    plain = client.get("/static/css/app.css")
    assert plain.status_code == 200
    assert "immutable" not in plain["Cache-Control"] and "max-age=60" in plain["Cache-Control"]
