"""API authentication by personal token: ``Authorization: Bearer rk_<prefix>_<secret>``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from accounts.services import api_token_authenticate


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(raw_token=token)
        if user is not None:
            request.user = user
        return user
