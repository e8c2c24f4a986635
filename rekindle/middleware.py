"""Pages show domain errors the way the API does: the person's message, the right status.

Services raise ``DomainError`` subclasses; views stay thin and let them propagate. Here a
``NotFound`` becomes Django's 404 (so someone else's object looks exactly like a missing
one) and any other domain error renders ``error.html`` with its message and status.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from rekindle.exceptions import DomainError, NotFound


class DomainErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
        if isinstance(exception, DomainError):
            response = TemplateResponse(request, "error.html", {"error": exception}, status=exception.status)
            return response.render()
        return None


# Multipart overhead on top of the largest photo we accept.
BODY_OVERHEAD = 1024 * 1024


class RequestSizeLimitMiddleware:
    """Refuse bodies larger than the biggest photo before Django reads them (413)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.PHOTO_MAX_BYTES
        if length > limit + BODY_OVERHEAD:
            message = f"This upload is {length / 2**20:.1f} MB; photos can be at most {limit // 2**20} MB."
            if request.path.startswith("/api/"):
                return JsonResponse({"code": "too_large", "message": message}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
