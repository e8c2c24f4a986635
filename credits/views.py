"""The credits & billing page."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from credits.plans import PLANS, TOPUPS
from credits.selectors import credit_balance, credit_ledger_for_user, next_grant_date, user_plan


@login_required
def credits_page(request: HttpRequest) -> HttpResponse:
    page = Paginator(credit_ledger_for_user(user=request.user), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "credits/credits.html",
        {
            "balance": credit_balance(user=request.user),
            "plan": user_plan(user=request.user),
            "plans": list(PLANS.values()),
            "topups": list(TOPUPS.values()),
            "next_grant_on": next_grant_date(user=request.user),
            "page": page,
            "payments_enabled": settings.STRIPE_ENABLED,
        },
    )
