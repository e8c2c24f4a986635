"""Job pages: choose processing for a photo, follow a job live, see and compare the result."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling
from ninja.throttling import SimpleRateThrottle

from credits.plans import FREE, PLANS
from credits.selectors import credit_balance, next_grant_date, user_plan
from photos.imaging import fit_size
from photos.selectors import photo_get_for_user, photo_is_toned
from photos.storage import media_url
from processing.kinds import (
    KindOffer,
    KindSpec,
    engine_stands_in,
    engine_uses_hints,
    kind_offer,
    kind_spec,
    kinds_offered,
)
from processing.models import PERSON_REASONS, JobKind, JobStatus
from processing.moderation import report_photo, report_share
from processing.selectors import (
    COST_WINDOW_DAYS,
    cost_group_limits,
    cost_per_kind,
    cost_spend_per_day,
    cost_top_users,
    input_choices_for_user,
    job_ai_made,
    job_get_for_user,
    job_input_thumbnail_url,
    job_list_for_user,
    job_progress,
    job_queue_position,
)
from processing.services import (
    InputRef,
    job_cancel,
    job_create,
    pause_reason,
    spend_limit_for,
    spend_limit_set,
)
from processing.sharing import ShareGone, share_create, share_get_public, share_list_for_job, share_revoke
from rekindle.charts import GREY, ORANGE, Series, stacked_bar_chart, swatch, usd
from rekindle.exceptions import DomainError, EmailUnconfirmed, NotFound, RateLimited
from rekindle.net import ClientIpThrottleMixin


def _kind_options(offers: list[KindOffer], balance: int, photo) -> list[dict]:
    """The choice page's radios: one per kind, selectable only when offered and affordable."""
    # A black-and-white photo is suggested for colour, where colour is really offered.
    suggested = "restore_colourize" if photo.is_grayscale else None
    options = [
        {
            "value": o.value,
            "label": o.label,
            "price": o.price,
            "help": o.help,
            "available": o.available,
            "reason": o.reason,
            "affordable": o.available and o.price <= balance,
            "suggested": o.available and o.value == suggested,
        }
        for o in offers
    ]
    selectable = [o for o in options if o["affordable"]]
    chosen = next((o for o in selectable if o["suggested"]), selectable[0] if selectable else None)
    for o in options:
        o["checked"] = o is chosen
    return options


def _shortfall(*, user, balance: int, offers: list[KindOffer]) -> dict | None:
    """When nothing offered is affordable: how many credits are missing, when the next monthly
    credits arrive and how many; None while something can be started."""
    available = [o for o in offers if o.available]
    if not available or any(o.price <= balance for o in available):
        return None
    cheapest = min(available, key=lambda o: o.price)
    plan = user_plan(user=user)
    return {
        "cheapest": cheapest,
        "missing": cheapest.price - balance,
        "next_grant": next_grant_date(user=user),
        "grant": plan.monthly_credits,
        "free": not plan.is_paid,
        "after_grant": balance + plan.monthly_credits,
    }


def _posted_options(request: HttpRequest, kind: str) -> dict[str, str] | None:
    """The kind's own choices from the form (a motion preset, a short description): only the
    ones its ``KindSpec`` takes, so a form for one kind never sends another's."""
    try:
        spec = kind_spec(kind)
    except KeyError:
        return None
    options = {}
    if spec.presets:
        options["preset"] = request.POST.get("preset", "")
    if spec.description_max:
        options["description"] = request.POST.get("description", "")
    return options


def _choices_of(spec: KindSpec, request: HttpRequest) -> dict:
    """A kind's presets and description field for a form, with the person's choice kept."""
    chosen = request.POST.get("preset") or (spec.presets[0].key if spec.presets else "")
    return {
        "spec": spec,
        "presets": [{"key": p.key, "label": p.label, "checked": p.key == chosen} for p in spec.presets],
        "description": request.POST.get("description", ""),
    }


def _animate_spec() -> KindSpec | None:
    """The animate kind when this server's engine really performs it (else no "Animate this")."""
    offer = kind_offer(kind=JobKind.ANIMATE)
    return offer.spec if offer is not None and offer.available else None


@login_required
def job_new(request: HttpRequest, photo_id: int) -> HttpResponse:
    photo = photo_get_for_user(user=request.user, photo_id=photo_id)
    balance = credit_balance(user=request.user)
    error = None
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        try:
            job = job_create(
                user=request.user,
                photo_id=photo.pk,
                kind=kind,
                hints=request.POST.get("hints", ""),
                # An unticked checkbox sends nothing: the form always says yes or no.
                keep_tone=request.POST.get("keep_tone") == "on",
                options=_posted_options(request, kind),
            )
        except DomainError as exc:
            error = exc.message
        else:
            return redirect("processing:detail", job_id=job.pk)
    offers = kinds_offered(single_photo=True)
    options = _kind_options(offers, balance, photo)
    plan = user_plan(user=request.user)
    toned = photo_is_toned(photo=photo)
    context = {
        "photo": photo,
        "photo_url": media_url(photo.thumbnail.name) if photo.thumbnail else None,
        "balance": balance,
        "options": options,
        "short_of_credits": any(o["available"] and not o["affordable"] for o in options),
        "shortfall": _shortfall(user=request.user, balance=balance, offers=offers),
        "colour_offered": any(o.available and o.spec.colourizes for o in offers),
        "uses_hints": engine_uses_hints(),
        # Said before spending: the size this photo comes back at on the person's plan, and
        # the caps of both plan groups.
        "plan": plan,
        "result_size": fit_size(photo.width, photo.height, plan.max_size)
        if photo.width and photo.height
        else None,
        "free_size": PLANS[FREE].max_size_display,
        "paid_size": next(p for p in PLANS.values() if p.is_paid).max_size_display,
        "restore_offered": any(o.available and o.kind.value == "restore" for o in offers),
        "toned": toned,
        # On a POST the person's own choice stands; otherwise on for a toned print.
        "keep_tone": request.POST.get("keep_tone") == "on" if request.method == "POST" else toned,
        "error": error,
        # Said before the person picks anything, not only after a refused POST.
        "unconfirmed": "" if request.user.email_confirmed or error else EmailUnconfirmed().message,
        # The choices of kinds that take them (animation's motion and description).
        "kind_choices": [_choices_of(o.spec, request) for o in offers if o.available and o.spec.presets],
    }
    return render(request, "processing/job_new.html", context, status=400 if error else 200)


def _together_order(post) -> list[str]:
    """The chosen pictures in the person's order: the page's script keeps the order they were
    ticked in ``order``; without script (or when it disagrees) the form's order stands."""
    picks = [value for value in post.getlist("pick") if value]
    order = [value for value in post.get("order", "").split(",") if value]
    return order if sorted(order) == sorted(picks) else picks


@login_required
def together_new(request: HttpRequest) -> HttpResponse:
    """Bring together: choose two or three photos (or finished results), a setting and colour."""
    offer = kind_offer(kind=JobKind.BRING_TOGETHER)
    spec = offer.spec if offer else kind_spec(JobKind.BRING_TOGETHER)
    choices = input_choices_for_user(user=request.user, accepts_results=spec.accepts_results)
    by_value = {choice.value: choice for choice in choices}
    balance = credit_balance(user=request.user)
    error = None
    # "Bring together with others" on a photo's page arrives with that photo ticked.
    chosen = [value for value in request.GET.getlist("pick") if value in by_value][: spec.inputs[1]]
    form = {"preset": spec.presets[0].key, "description": "", "colour": "colour"}
    if request.method == "POST":
        chosen = _together_order(request.POST)
        form = {key: request.POST.get(key, "").strip() for key in form}
        try:
            unknown = next((value for value in chosen if value not in by_value), None)
            if unknown is not None:
                raise NotFound(f"Picture {chosen.index(unknown) + 1}: no such photo.")
            job = job_create(
                user=request.user,
                kind=spec.value,
                inputs=[by_value[value].ref for value in chosen],
                options={key: value for key, value in form.items() if value},
            )
        except DomainError as exc:
            error = exc.message
        else:
            return redirect("processing:detail", job_id=job.pk)
    context = {
        "spec": spec,
        "available": bool(offer and offer.available),
        "choices": choices,
        "chosen": chosen,
        "form": form,
        "balance": balance,
        "short": max(0, spec.price - balance),
        "error": error,
        "unconfirmed": "" if request.user.email_confirmed or error else EmailUnconfirmed().message,
        "stand_in": engine_stands_in(kind=spec.value),
    }
    return render(request, "processing/together_new.html", context, status=400 if error else 200)


@login_required
def job_animate(request: HttpRequest, job_id: int) -> HttpResponse:
    """ "Animate this": a short video from one of the person's finished pictures, with its price,
    the balance and what will happen said before anything is spent."""
    source = job_get_for_user(user=request.user, job_id=job_id)
    spec = _animate_spec()
    if spec is None or source.status != JobStatus.SUCCEEDED or source.is_video:
        raise Http404("This result cannot be animated.")
    balance = credit_balance(user=request.user)
    error = None
    if request.method == "POST":
        try:
            job = job_create(
                user=request.user,
                kind=spec.value,
                inputs=[InputRef(job_id=source.pk)],
                options=_posted_options(request, spec.value),
            )
        except DomainError as exc:
            error = exc.message
        else:
            return redirect("processing:detail", job_id=job.pk)
    context = {
        "source": source,
        "picture_url": media_url(source.result_picture_name),
        "balance": balance,
        "affordable": spec.price <= balance,
        "balance_after": balance - spec.price,
        "choices": _choices_of(spec, request),
        "error": error,
        "unconfirmed": "" if request.user.email_confirmed or error else EmailUnconfirmed().message,
    }
    return render(request, "processing/job_animate.html", context, status=400 if error else 200)


@login_required
@vary_on_headers("HX-Request")
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_get_for_user(user=request.user, job_id=job_id)
    video = job.is_video
    context = {
        "job": job,
        "video": video,
        "queue_position": job_queue_position(job=job),
        "progress": job_progress(job=job),
        "several": job.spec.takes_several,
    }
    # The picture, download and share links only show once the job has succeeded: a poll of a
    # waiting or running job (every 2 s, from every open page) signs no URLs and reads no shares.
    if job.status == JobStatus.SUCCEEDED:
        context |= {
            "before_url": media_url(job.photo.image.name) if job.photo and job.photo.image else None,
            "result_url": media_url(job.result.name) if job.result else None,
            "poster_url": media_url(job.result_poster.name) if job.result_poster else None,
            # "Animate this" under a finished picture, where this server can animate.
            "animate_url": reverse("processing:animate", args=[job.pk])
            if job.result and not video and _animate_spec() is not None
            else None,
            "download_url": (
                media_url(job.result.name, download_name=job.download_name) if job.result else None
            ),
            "shares": [
                {"link": link, "url": request.build_absolute_uri(reverse("share", args=[link.token]))}
                for link in share_list_for_job(user=request.user, job=job)
            ],
        }
    # The inputs of a job of several pictures, shown above its result: on the page itself and
    # once it has succeeded, not on every poll while it waits.
    if job.spec.takes_several and (job.status == JobStatus.SUCCEEDED or not request.htmx):
        context["inputs"] = _input_items(job)
    if request.htmx:
        response = render(request, "processing/job_detail.html#job-status", context)
        if job.is_final:
            # 286 tells htmx to stop polling; the final partial replaces the live one.
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "processing/job_detail.html", context)


def _input_items(job) -> list[dict]:
    """The inputs of a job that takes several pictures, as its page shows them (none otherwise:
    a one-photo job compares before and after instead)."""
    if not job.spec.takes_several:
        return []
    return [
        {"position": row.position, "thumb": job_input_thumbnail_url(row=row), "photo_id": row.photo_id}
        for row in job.input_list()
    ]


@login_required
@require_POST
def job_cancel_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job_cancel(user=request.user, job_id=job_id)
    return redirect("processing:detail", job_id=job_id)


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    return render(request, "processing/job_list.html", {"jobs": job_list_for_user(user=request.user)[:50]})


@login_required
@require_POST
def share_create_view(request: HttpRequest, job_id: int) -> HttpResponse:
    share_create(user=request.user, job_id=job_id)
    return redirect(f"{reverse('processing:detail', args=[job_id])}#share")


@login_required
@require_POST
def share_revoke_view(request: HttpRequest, share_id: int) -> HttpResponse:
    link = share_revoke(user=request.user, share_id=share_id)
    return redirect(f"{reverse('processing:detail', args=[link.job_id])}#share")


class ReportThrottle(ClientIpThrottleMixin, SimpleRateThrottle):
    """Reports per client address (``rekindle.net.client_ip``), signed in or not, so nobody can
    flood the moderation queue."""

    scope = "report"

    def __init__(self) -> None:
        super().__init__(settings.REPORT_RATE)

    def get_cache_key(self, request: HttpRequest) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _report_allowed(request: HttpRequest) -> None:
    if not ReportThrottle().allow_request(request):
        raise RateLimited("You have sent many reports in a short time: please wait a little and try again.")


@login_required
@require_POST
def photo_report_view(request: HttpRequest, photo_id: int) -> HttpResponse:
    """A report from the library, e.g. on a photo a phone hand-off put there."""
    try:
        _report_allowed(request)
        report_photo(
            user=request.user,
            photo_id=photo_id,
            reason=request.POST.get("reason", ""),
            note=request.POST.get("note", ""),
        )
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Thank you for the report: our team will look at it.")
    return redirect(f"{reverse('photos:detail', args=[photo_id])}#report")


def share_public(request: HttpRequest, token: str) -> HttpResponse:
    """The public before/after page of a share link (no sign-in)."""
    try:
        link = share_get_public(token=token)
    except ShareGone as exc:
        return render(request, "processing/share_gone.html", {"message": exc.message}, status=410)
    job = link.job
    reported, report_error, status = False, "", 200
    if request.method == "POST":
        reporter = request.user if request.user.is_authenticated else None
        try:
            _report_allowed(request)
            report_share(
                token=token,
                reason=request.POST.get("reason", ""),
                note=request.POST.get("note", ""),
                reporter=reporter,
            )
            reported = True
        except DomainError as exc:
            report_error, status = exc.message, exc.status
    context = {
        "job": job,
        "link": link,
        "share_url": request.build_absolute_uri(reverse("share", args=[token])),
        "preview_url": request.build_absolute_uri(reverse("share_preview", args=[token])),
        "reasons": PERSON_REASONS,
        "reported": reported,
        "report_error": report_error,
        # A new picture (bring together) has no single "before": the page shows it alone.
        "before_url": None if job.spec.takes_several or not job.photo else media_url(job.photo.image.name),
        "result_url": media_url(job.result.name),
        "video": job.is_video,
        "poster_url": media_url(job.result_poster.name) if job.result_poster else None,
        "video_url": request.build_absolute_uri(reverse("share_video", args=[token])),
        "ai_made": job_ai_made(job=job),
    }
    response = render(request, "processing/share_public.html", context, status=status)
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"  # the token must not leak to other sites
    return response


@require_safe
def share_preview(request: HttpRequest, token: str) -> HttpResponse:
    """The share page's preview picture for messengers' link cards (Open Graph / Twitter).

    The share link is checked on every request, so a revoked or expired link's preview stops
    at once; the picture itself comes from a short-lived signed media URL.
    """
    try:
        link = share_get_public(token=token)
    except NotFound as exc:  # ShareGone too: a gone link shows no picture
        raise Http404(exc.message) from exc
    return _share_media_redirect(request, link.job.result_picture_name)


@require_safe
def share_video(request: HttpRequest, token: str) -> HttpResponse:
    """A shared video's MP4 for messengers' link cards (Open Graph ``og:video``), checked like
    the preview; 404 for a link whose result is a picture."""
    try:
        link = share_get_public(token=token)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if not link.job.is_video:
        raise Http404("This share has no video.")
    return _share_media_redirect(request, link.job.result.name)


def _share_media_redirect(request: HttpRequest, name: str) -> HttpResponse:
    url = media_url(name, max_age=settings.SHARE_PREVIEW_URL_MAX_AGE)
    response = redirect(request.build_absolute_uri(url))
    response["Cache-Control"] = "no-store"  # ask again each time, so revoking is seen
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response


# ---------------------------------------------------------------------------------------
# Cost review (staff only): spend per day and tier group, per kind and per person, and the
# daily limits with forms to pause, resume and change them.

logger = logging.getLogger(__name__)

GROUP_LABELS = {"free": "Free", "paid": "Paid"}
SPEND_ACTIONS = ("pause", "resume", "limit")


class SpendLimitForm(forms.Form):
    daily_limit = forms.DecimalField(
        label="Daily limit (US dollars)",
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("0.01"),
        error_messages={
            "required": "Enter a daily limit in dollars, e.g. 50 or 49.99.",
            "invalid": "Enter the daily limit as a number of dollars, e.g. 50 or 49.99.",
            "min_value": "The daily limit must be more than $0. To stop a tier's work, pause it instead.",
            "max_decimal_places": "Use at most two decimals (whole cents).",
            "max_digits": "That limit is too large.",
            "max_whole_digits": "That limit is too large.",
        },
    )


def _spend_change(
    *, request: HttpRequest, group: str, action: str
) -> tuple[str | None, SpendLimitForm | None]:
    """Apply one pause / resume / new limit; (success message, form with errors)."""
    before = spend_limit_for(group)
    old_limit, old_paused = before.daily_limit, before.paused_manually
    if action == "limit":
        form = SpendLimitForm(request.POST, auto_id=f"{group}-%s")
        if not form.is_valid():
            return None, form
        limit = spend_limit_set(group=group, daily_limit=form.cleaned_data["daily_limit"])
        change = f"daily limit ${old_limit:.2f} → ${limit.daily_limit:.2f}"
    else:
        # spend_limit_set re-sends the group's waiting jobs itself once nothing pauses it.
        limit = spend_limit_set(group=group, paused=action == "pause")
        change = f"paused {old_paused} → {limit.paused_manually}"
    logger.info(
        "spend limit changed",
        extra={
            "tier_group": group,
            "action": action,
            "changed_by": request.user.pk,  # ids in logs, never addresses
            "change": change,
            "daily_limit": f"{limit.daily_limit:.2f}",
            "paused_manually": limit.paused_manually,
        },
    )
    # The same record the admin keeps for its own edits, so the history shows who did what.
    LogEntry.objects.log_actions(
        user_id=request.user.pk,
        queryset=[limit],
        action_flag=CHANGE,
        change_message=f"Cost review: {group} {change}",
        single_object=True,
    )
    label = GROUP_LABELS[group]
    messages_by_action = {
        "pause": f"{label} tier paused: its new jobs wait until you resume it.",
        "resume": f"{label} tier resumed.",
        "limit": f"{label} tier daily limit set to ${limit.daily_limit:,.2f}.",
    }
    message = messages_by_action[action]
    reason = pause_reason(group)
    if action != "pause" and reason:
        message += " Its jobs still wait: " + reason
    return message, None


@staff_member_required
@require_http_methods(["GET", "POST"])
def cost_review(request: HttpRequest) -> HttpResponse:
    may_change = request.user.has_perm("processing.change_spendlimit")
    forms_by_group: dict[str, SpendLimitForm] = {}
    status = 200
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied
        group, action = request.POST.get("group", ""), request.POST.get("action", "")
        if group not in GROUP_LABELS or action not in SPEND_ACTIONS:
            messages.error(request, "Unknown tier group or action: nothing was changed.")
            status = 400
        else:
            done, bad_form = _spend_change(request=request, group=group, action=action)
            if done:
                messages.success(request, done)
                return redirect("staff_costs")
            forms_by_group[group] = bad_form
            status = 400
    days = cost_spend_per_day()
    limits = cost_group_limits()
    context = {
        "days": days,
        "free_total": sum((d.free for d in days), Decimal("0")),
        "paid_total": sum((d.paid for d in days), Decimal("0")),
        "chart": stacked_bar_chart(
            label="Spend per day for the last 30 days, free and paid tiers stacked; "
            "the figures are in the table below.",
            categories=[_day_label(d.day) for d in days],
            series=[
                Series(name="free", color=GREY, values=[d.free for d in days]),
                Series(name="paid", color=ORANGE, values=[d.paid for d in days]),
            ],
            value_format=usd,
        ),
        "chart_max": max((d.total for d in days), default=Decimal("0")),
        "swatch_free": swatch(color=GREY),
        "swatch_paid": swatch(color=ORANGE),
        "kinds": cost_per_kind(),
        "top_users": [
            {"row": row, "admin_url": reverse("admin:accounts_user_change", args=[row.user_id])}
            for row in cost_top_users()
        ],
        "limits": [
            {
                "limit": limit,
                "label": GROUP_LABELS[limit.group],
                "form": forms_by_group.get(limit.group)
                or SpendLimitForm(
                    initial={"daily_limit": f"{limit.daily_limit:.2f}"}, auto_id=f"{limit.group}-%s"
                ),
            }
            for limit in limits
        ],
        "may_change": may_change,
        "window_days": COST_WINDOW_DAYS,
    }
    return render(request, "processing/cost_review.html", context, status=status)


def _day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"
