"""Site-wide pages that belong to no app: home."""

from __future__ import annotations

import functools
import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

# Written by `manage.py make_home_examples` next to the pictures it describes.
EXAMPLES_MANIFEST = settings.BASE_DIR / "static" / "img" / "examples" / "examples.json"


@functools.cache
def home_examples() -> list[dict[str, Any]]:
    """The home page's before/after examples (pictures, alt text, credit line), read once."""
    return json.loads(EXAMPLES_MANIFEST.read_text())["examples"]


def home(request: HttpRequest) -> HttpResponse:
    from processing.kinds import kinds_offered

    # The promise on the page follows what this server's engine really does.
    colourizes = any(offer.available and offer.spec.colourizes for offer in kinds_offered())
    return render(request, "home.html", {"examples": home_examples(), "colourizes": colourizes})
