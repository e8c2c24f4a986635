"""Pieces shared by the apps' admins."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from rekindle.exceptions import DomainError


def run_each(
    model_admin: admin.ModelAdmin, request: HttpRequest, items: Iterable[Any], act: Callable[[Any], str]
) -> None:
    """Apply one service per selected row, reporting each success or refusal on its own line."""
    for item in items:
        try:
            done = act(item)
        except DomainError as exc:
            model_admin.message_user(request, f"{item}: {exc.message}", messages.ERROR)
        else:
            model_admin.message_user(request, done, messages.SUCCESS)
