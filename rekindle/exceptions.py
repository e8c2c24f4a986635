"""Domain errors: what went wrong, in words a person understands, with a stable code.

Services raise subclasses of ``DomainError``; the API maps them to
``{"code": ..., "message": ...}`` with ``status`` in one place (``rekindle/api.py``) and
views show ``message``. Apps define their own subclasses next to their services.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base for errors a person can act on. Subclasses set ``code`` and ``status``."""

    code: str = "error"
    status: int = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class NotFound(DomainError):
    """The object does not exist *for this user*: never reveal that someone else owns it."""

    code = "not_found"
    status = 404


class InvalidTransition(DomainError):
    code = "invalid_transition"
    status = 409


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429


class EmailUnconfirmed(DomainError):
    """Starting jobs and making API tokens wait until the person proved the email is theirs."""

    code = "email_unconfirmed"
    status = 403

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(
            message
            or "Confirm your email address first: open the link we emailed you, or send a new one "
            "from your account page. Confirming also gives you your free credits.",
            **details,
        )
