"""Account pages: sign up/in/out, email confirmation, password change and reset, the account
page with tokens, "download my data" and "delete my account".

Sign-up and password-reset POSTs are rate-limited per client address and per target email
(``SIGNUP_RATE_*``, ``PASSWORD_RESET_RATE_*``); over the limit the page comes back with a
plain message and status 429.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.forms import AccountDeleteForm, ApiTokenForm, PreferencesForm, SignInForm, SignUpForm
from accounts.models import DataExport, DataExportStatus, User
from accounts.selectors import (
    account_deletion_summary,
    api_token_list_for_user,
    data_export_get_for_user,
    data_export_latest_for_user,
)
from accounts.services import (
    EmailTaken,
    account_delete,
    api_token_create,
    api_token_revoke,
    data_export_request,
    email_confirm,
    email_confirmation_resend,
    email_confirmation_send,
    email_confirmation_user,
    user_password_changed,
    user_signup,
    user_update_preferences,
)
from photos.storage import media_url
from rekindle.exceptions import DomainError
from rekindle.net import client_ip
from rekindle.throttling import rate_limit_allows

logger = logging.getLogger(__name__)

SIGNUP_LIMITED = "Too many sign-ups in a short time. Please wait an hour and try again."
RESET_LIMITED = "Too many password reset requests in a short time. Please wait an hour and try again."
RESEND_LIMITED = (
    "We have sent you several confirmation emails in the last hour. Please wait a little, and "
    "check your spam folder meanwhile."
)


def _over_limit(request: HttpRequest, *, scope: str, per_address: str, per_email: str, email: str) -> bool:
    """Count this POST per client address and per target email; True when either is over its rate."""
    if not rate_limit_allows(request, scope=f"{scope}-address", rate=per_address, ident=client_ip(request)):
        limited_by = "address"
    elif not rate_limit_allows(request, scope=f"{scope}-email", rate=per_email, ident=email.strip().lower()):
        limited_by = "email"
    else:
        return False
    logger.warning("rate limited", extra={"scope": scope, "limited_by": limited_by})
    return True


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    if request.method == "POST" and _over_limit(
        request,
        scope="signup",
        per_address=settings.SIGNUP_RATE_PER_ADDRESS,
        per_email=settings.SIGNUP_RATE_PER_EMAIL,
        email=request.POST.get("email", ""),
    ):
        context = {"form": SignUpForm(), "rate_limited": SIGNUP_LIMITED}
        return render(request, "accounts/signup.html", context, status=429)
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_signup(email=form.cleaned_data["email"], password=form.cleaned_data["password1"])
        except EmailTaken as exc:
            form.add_error("email", exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request, f"Welcome to Rekindle! Your account is ready. {_send_confirmation(user)}"
            )
            # The first run goes straight to adding a photo (issue 14): that is why people came.
            return redirect("photos:new")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


def _send_confirmation(user: User) -> str:
    """Send the confirmation link; the sentence to tell the person what happened."""
    try:
        email_confirmation_send(user=user)
    except Exception:  # a mail outage must not undo the sign-up: the banner can send it again
        logger.warning("email confirmation failed to send", extra={"user_id": user.pk}, exc_info=True)
        return "We couldn't send your confirmation email just now: use “Send the link again” above."
    return f"We sent a link to {user.email}: open it to confirm your address and get your 3 free credits."


@require_http_methods(["GET", "POST"])
def email_confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link. GET shows a button; only the POST confirms, so a mail scanner that
    follows links cannot confirm an address for whoever signed up with it."""
    template = "accounts/email_confirm.html"
    try:
        if request.method == "POST":
            person, newly = email_confirm(token=token)
        else:
            person, newly = email_confirmation_user(token=token), False
    except DomainError as exc:
        state = "expired" if exc.code == "confirmation_link_expired" else "invalid"
        return render(request, template, {"state": state, "error": exc.message}, status=exc.status)
    if request.method == "GET" or not newly:
        return render(
            request,
            template,
            {"state": "already" if person.email_confirmed else "confirm", "confirm_user": person},
        )
    messages.success(
        request, f"Thank you: {person.email} is confirmed, and your free credits are in your account."
    )
    return redirect("home" if request.user.is_authenticated else "accounts:login")


@login_required
@require_POST
def email_confirm_resend_view(request: HttpRequest) -> HttpResponse:
    allowed = rate_limit_allows(
        request,
        scope="confirm-resend",
        rate=settings.EMAIL_CONFIRMATION_RESEND_RATE,
        ident=str(request.user.pk),
    )
    if not allowed:
        context = {"state": "rate_limited", "error": RESEND_LIMITED}
        return render(request, "accounts/email_confirm.html", context, status=429)
    try:
        email_confirmation_resend(user=request.user)
    except DomainError as exc:
        messages.info(request, exc.message)
    else:
        messages.success(request, f"We sent a new confirmation link to {request.user.email}.")
    return redirect("accounts:account")


class SignInView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:account")

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        # Django keeps this session signed in (update_session_auth_hash); every other session
        # ends because the password hash it was signed in with changed.
        response = super().form_valid(form)
        revoked = user_password_changed(user=form.user)
        note = " Your API tokens were revoked: make new ones for your scripts." if revoked else ""
        messages.success(self.request, f"Your password was changed. Other devices were signed out.{note}")
        return response


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _over_limit(
            request,
            scope="password-reset",
            per_address=settings.PASSWORD_RESET_RATE_PER_ADDRESS,
            per_email=settings.PASSWORD_RESET_RATE_PER_EMAIL,
            email=request.POST.get("email", ""),
        ):
            context = self.get_context_data(form=self.get_form_class()(), rate_limited=RESET_LIMITED)
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        # Whoever opened the link reads the account's mail: the address is proven, and every
        # token and session made by someone else (or a thief) stops working.
        response = super().form_valid(form)
        user_password_changed(user=form.user, by_reset=True)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


@login_required
def account(request: HttpRequest) -> HttpResponse:
    prefs = PreferencesForm(
        request.POST or None,
        initial={"name": request.user.name, "notify_by_email": request.user.notify_by_email},
    )
    if request.method == "POST" and prefs.is_valid():
        user_update_preferences(
            user=request.user,
            name=prefs.cleaned_data["name"],
            notify_by_email=prefs.cleaned_data["notify_by_email"],
        )
        messages.success(request, "Your preferences were saved.")
        return redirect("accounts:account")
    return render(
        request,
        "accounts/account.html",
        {
            "prefs_form": prefs,
            "token_form": ApiTokenForm(),
            "tokens": api_token_list_for_user(user=request.user),
            **_export_context(request.user),
        },
    )


@login_required
@require_POST
def api_token_create_view(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the token a name of at most 60 characters.")
        return redirect("accounts:account")
    try:
        token, raw = api_token_create(user=request.user, name=form.cleaned_data["name"])
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:account")
    # The raw token is rendered once, in this response, and never stored.
    return render(
        request,
        "accounts/api_token_created.html",
        {"token": token, "raw_token": raw},
    )


@login_required
@require_POST
def api_token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = api_token_revoke(user=request.user, token_id=token_id)
    messages.success(request, f"Token “{token.name}” was revoked; scripts using it will stop working.")
    return redirect("accounts:account")


# --- GDPR: download my data and delete my account ---------------------------------------


def _export_context(user: User) -> dict[str, Any]:
    export: DataExport | None = data_export_latest_for_user(user=user)
    return {"export": export}


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def data_export(request: HttpRequest) -> HttpResponse:
    """POST asks for a new export; GET (htmx) is the "Your data" part of the account page, polled."""
    if request.method == "POST":
        try:
            data_export_request(user=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            # The page itself says how the export stands (preparing, ready or failed); a flash
            # saying "a few minutes" would sit beside "Your data is ready" when it was quick.
            messages.success(request, "We've started a copy of your data.")
        return redirect(f"{reverse('accounts:account')}#your-data")
    if not request.htmx:
        return redirect(f"{reverse('accounts:account')}#your-data")
    context = _export_context(request.user)
    response = render(request, "accounts/account.html#data-export", context)
    if context["export"] is None or context["export"].status != DataExportStatus.PENDING:
        response.status_code = 286  # htmx: stop polling, the export is ready or failed
    return response


@login_required
@require_GET
def data_export_download(request: HttpRequest, export_id: int) -> HttpResponse:
    """Send the owner to a fresh signed, expiring URL of their zip; anyone else gets a 404."""
    export = data_export_get_for_user(user=request.user, export_id=export_id)
    if export is None:
        raise Http404("No such download, or it has expired.")
    name = f"rekindle-data-{export.created_at:%Y-%m-%d}.zip"
    response = redirect(media_url(export.file.name, download_name=name))
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def account_delete_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = AccountDeleteForm(request.POST or None, user=user)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            account_delete(
                user=user,
                password=form.cleaned_data.get("password", ""),
                confirm_email=form.cleaned_data.get("confirm_email", ""),
            )
        except DomainError as exc:
            field = "password" if form.uses_password else "confirm_email"
            if exc.code == "wrong_password":
                form.add_error(field, exc.message)
            else:
                error = exc.message
        else:
            logout(request)
            messages.success(
                request,
                "Your account, photos and results have been deleted. Thank you for using Rekindle. Goodbye.",
            )
            return redirect("home")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "accounts/account_delete.html",
        {"form": form, "summary": account_deletion_summary(user=user), "error": error},
        status=status,
    )
