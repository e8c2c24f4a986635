"""The credits & billing page, and the doors to Stripe Checkout and the Billing Portal.

The buttons POST here; we ask Stripe for a session and send the browser there (303). The
success page only says thanks: credits arrive from verified webhooks, never from a URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from credits.billing import billing_portal, checkout_subscription, checkout_topup, membership_for_user
from credits.metrics import (
    METRIC_DEFINITIONS,
    metrics_infra_items,
    metrics_month,
    metrics_new_users_per_week,
    metrics_tier_distribution,
    metrics_users_total,
    percent,
)
from credits.plans import PLANS, TOPUPS
from credits.selectors import credit_balance, credit_ledger_for_user, next_grant_date, user_plan
from rekindle.charts import bar_chart, usd
from rekindle.exceptions import DomainError

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]


def allow_stripe_redirects(*origin_settings: str) -> Callable[[View], View]:
    """Let this page's forms lead to Stripe's hosted pages under our Content Security Policy.

    CSP's ``form-action`` also covers where a form submission is redirected: without the
    Stripe origin, Chromium blocks the 303 from our checkout/portal view and paying fails.
    Only the pages with those forms get the extra origin, read from settings per request.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = view(request, *args, **kwargs)
            origins = [getattr(settings, name) for name in origin_settings]
            response._csp_update = {"form-action": origins}  # type: ignore[attr-defined]
            return response

        return wrapper

    return decorate


@login_required
@allow_stripe_redirects("STRIPE_CHECKOUT_ORIGIN")
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
            "membership": membership_for_user(user=request.user),
            "page": page,
            "payments_enabled": settings.STRIPE_ENABLED,
        },
    )


def _to_stripe(request: HttpRequest, url: str, *, origin_setting: str) -> HttpResponse:
    """303 to Stripe's hosted page (the browser follows a POST's redirect with a GET).

    A URL on another origin than the one our policy allows would be blocked by the browser
    with no word to the person, so it is refused here with a message and logged instead.
    """
    expected = getattr(settings, origin_setting).rstrip("/")
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != expected:
        logger.error(
            "stripe url on an unexpected origin", extra={"origin": parts.netloc, "setting": origin_setting}
        )
        messages.error(
            request, "Payments are unavailable right now. Nothing was charged; please try again later."
        )
        return redirect("credits:page")
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _back_with_error(request: HttpRequest, error: DomainError) -> HttpResponse:
    messages.error(request, error.message)
    return redirect("credits:page")


@login_required
@require_POST
def topup_checkout(request: HttpRequest, pack: str) -> HttpResponse:
    try:
        url = checkout_topup(
            user=request.user,
            pack_slug=pack,
            success_url=request.build_absolute_uri(reverse("credits:thanks")),
            cancel_url=request.build_absolute_uri(reverse("credits:page")),
        )
    except DomainError as error:
        return _back_with_error(request, error)
    return _to_stripe(request, url, origin_setting="STRIPE_CHECKOUT_ORIGIN")


@login_required
@require_POST
def plan_checkout(request: HttpRequest, plan: str, interval: str) -> HttpResponse:
    try:
        url = checkout_subscription(
            user=request.user,
            plan_slug=plan,
            interval=interval,
            success_url=request.build_absolute_uri(reverse("credits:thanks")),
            cancel_url=request.build_absolute_uri(reverse("credits:page")),
        )
    except DomainError as error:
        return _back_with_error(request, error)
    return _to_stripe(request, url, origin_setting="STRIPE_CHECKOUT_ORIGIN")


@login_required
@allow_stripe_redirects("STRIPE_BILLING_PORTAL_ORIGIN")
@require_http_methods(["GET", "POST"])
def manage(request: HttpRequest) -> HttpResponse:
    """GET: what cancelling costs (credits lost, and when). POST: on to the Billing Portal."""
    if request.method == "POST":
        try:
            url = billing_portal(
                user=request.user, return_url=request.build_absolute_uri(reverse("credits:page"))
            )
        except DomainError as error:
            return _back_with_error(request, error)
        return _to_stripe(request, url, origin_setting="STRIPE_BILLING_PORTAL_ORIGIN")
    membership = membership_for_user(user=request.user)
    return render(
        request,
        "credits/manage.html",
        {
            "balance": credit_balance(user=request.user),
            "membership": membership,
            "plan": PLANS.get(membership.plan) if membership else None,
            "payments_enabled": settings.STRIPE_ENABLED,
        },
    )


@login_required
def thanks(request: HttpRequest) -> HttpResponse:
    # Whatever the query string says, nothing is granted here.
    return render(request, "credits/thanks.html")


@staff_member_required
def business_metrics(request: HttpRequest) -> HttpResponse:
    """Staff only: users, tiers, MRR, ARPU, this month's revenue, costs and margin."""
    weeks = metrics_new_users_per_week()
    month = metrics_month()
    context = {
        "users_total": metrics_users_total(),
        "weeks": weeks,
        "weeks_chart": bar_chart(
            label=f"New users per week for the last {len(weeks)} weeks; the figures are in the table below.",
            categories=[f"Week of {w.week_start.day} {w.week_start:%b %Y}" for w in weeks],
            values=[w.count for w in weeks],
        ),
        "weeks_max": max((w.count for w in weeks), default=0),
        "tiers": metrics_tier_distribution(),
        "month": month,
        "money": {
            "mrr": usd(month.mrr),
            "arpu": usd(month.arpu),
            "topup_revenue": usd(month.topup_revenue),
            "revenue": usd(month.revenue),
            "ai_cost": usd(month.ai_cost),
            "infra_cost": usd(month.infra_cost),
            "profit": usd(month.profit),
            "margin": percent(month.margin),
        },
        "infra_items": metrics_infra_items(month=month.month),
        "definitions": METRIC_DEFINITIONS,
    }
    return render(request, "credits/metrics.html", context)
