"""The JSON API under /api/v1/: one NinjaAPI, routers from each app, errors in one shape.

Every error is ``{"code": "...", "message": "..."}`` (plus ``details`` where useful) with the
matching HTTP status. Browsers authenticate with their session (CSRF enforced); scripts send
``Authorization: Bearer <personal token>``.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.security import django_auth

from accounts.api import router as accounts_router
from accounts.auth import BearerTokenAuth
from credits.api import router as credits_router
from photos.api import router as photos_router
from processing.api import router as processing_router
from rekindle.exceptions import DomainError

api = NinjaAPI(
    title="Rekindle API",
    version="1.0.0",
    description="Restore and colourize old photos. Authenticate with a session or a personal token.",
    urls_namespace="api",
    docs_url="/docs",
    auth=[BearerTokenAuth(), django_auth],
)

api.add_router("/", accounts_router)
api.add_router("/credits", credits_router)
api.add_router("/photos", photos_router)
api.add_router("/jobs", processing_router)


def error_response(request: HttpRequest, status: int, code: str, message: str, **extra: Any) -> HttpResponse:
    return api.create_response(request, {"code": code, "message": message, **extra}, status=status)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(
        request, 422, "invalid_input", "Some fields are missing or invalid.", details=exc.errors
    )


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        request,
        401,
        "not_authenticated",
        "Sign in, or send a valid personal token as 'Authorization: Bearer <token>'.",
    )


@api.exception_handler(Throttled)
def on_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = error_response(
        request, 429, "rate_limited", "Too many requests in a short time: please wait a little and try again."
    )
    if exc.wait:
        response["Retry-After"] = str(int(exc.wait) + 1)
    return response


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, "not_found", "Not found.")


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 403 and "CSRF" in str(exc):
        return error_response(
            request,
            403,
            "csrf_failed",
            "The page's security token is missing or stale: reload and try again.",
        )
    codes = {403: "forbidden", 429: "rate_limited"}
    return error_response(request, exc.status_code, codes.get(exc.status_code, "error"), str(exc))
