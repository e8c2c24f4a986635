"""Pages show domain errors the way the API does: the person's message, the right status.

Services raise ``DomainError`` subclasses; views stay thin and let them propagate. Here a
``NotFound`` becomes Django's 404 (so someone else's object looks exactly like a missing
one) and any other domain error renders ``error.html`` with its message and status.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse
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
