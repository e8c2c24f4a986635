"""App configs the project overrides."""

from __future__ import annotations

from django.contrib.staticfiles.apps import StaticFilesConfig


class RekindleStaticFilesConfig(StaticFilesConfig):
    """collectstatic leaves out ``static/src/`` (the Tailwind source, built into css/app.css):
    its ``@import "tailwindcss"`` names no file, so the manifest storage would stop on it."""

    ignore_patterns = [*StaticFilesConfig.ignore_patterns, "src"]
