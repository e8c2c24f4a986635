"""Account reads."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ApiToken, User


def api_token_list_for_user(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at")
