"""The PWA: web manifest, the service worker at the root scope, and the offline page.

The worker's source is ``static/js/sw.js``; it is served from ``/sw.js`` (so its scope is the
whole site) with the app-shell list and a version prepended. The version is a hash of the
shell files, so a deploy that changes any of them installs a new cache and drops the old.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import cache_control

# Static files every page needs, precached at install so the shell opens offline.
APP_SHELL_STATIC = [
    "css/app.css",
    "vendor/htmx.min.js",
    "js/app.js",
    "js/upload-queue.js",
    "icons/icon.svg",
    "icons/icon-192.png",
]
SW_SOURCE = "js/sw.js"


def _read_static(path: str) -> bytes:
    found = finders.find(path)
    if not found:
        raise FileNotFoundError(path)
    with open(found, "rb") as fh:
        return fh.read()


def _build_service_worker() -> str:
    shell = [static(p) for p in APP_SHELL_STATIC] + [reverse("offline")]
    digest = hashlib.sha256()
    for path in [*APP_SHELL_STATIC, SW_SOURCE]:
        digest.update(_read_static(path))
    header = (
        f"const APP_SHELL = {json.dumps(shell)};\n"
        f"const CACHE_VERSION = {json.dumps(digest.hexdigest()[:12])};\n"
        f"const OFFLINE_URL = {json.dumps(reverse('offline'))};\n"
        f"const QUEUE_SCRIPT = {json.dumps(static('js/upload-queue.js'))};\n"
    )
    return header + _read_static(SW_SOURCE).decode()


_cached_service_worker = lru_cache(maxsize=1)(_build_service_worker)


@cache_control(no_cache=True, max_age=0)
def service_worker(request: HttpRequest) -> HttpResponse:
    body = _build_service_worker() if settings.DEBUG else _cached_service_worker()
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    return response


@cache_control(max_age=60 * 60)
def manifest(request: HttpRequest) -> JsonResponse:
    icons = [
        {"src": static("icons/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
        {"src": static("icons/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
        {
            "src": static("icons/icon-maskable-512.png"),
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]
    data = {
        "name": "Rekindle — restore old photos",
        "short_name": "Rekindle",
        "description": "Restore and colourize old family photos.",
        "start_url": "/?source=pwa",
        "scope": "/",
        "display": "standalone",
        "background_color": "#fafaf9",
        "theme_color": "#7c2d12",
        "icons": icons,
    }
    return JsonResponse(data, content_type="application/manifest+json")


def offline(request: HttpRequest) -> HttpResponse:
    """The offline page, rendered without the request: the service worker caches it at install
    and shows it to whoever is offline later, so it carries nobody's links or CSRF token. Nor does
    it set the CSRF cookie: the worker's install can still be fetching it, with the cookie of the
    page it started on, after a sign-in has rotated that cookie; a late answer re-setting the old
    one made the next upload fail its CSRF check (403)."""
    return HttpResponse(render_to_string("offline.html"))
