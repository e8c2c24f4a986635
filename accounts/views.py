"""Account pages: sign up/in/out, password change and reset, the account page with tokens,
"download my data" and "delete my account"."""

from __future__ import annotations

from typing import Any

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
    user_signup,
    user_update_preferences,
)
from photos.storage import media_url
from rekindle.exceptions import DomainError


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_signup(email=form.cleaned_data["email"], password=form.cleaned_data["password1"])
        except EmailTaken as exc:
            form.add_error("email", exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome to Rekindle! Your account is ready.")
            return redirect("home")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


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
        messages.success(self.request, "Your password was changed.")
        return super().form_valid(form)


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")


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
    token, raw = api_token_create(user=request.user, name=form.cleaned_data["name"])
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
            messages.success(request, "We're preparing a copy of your data. It usually takes a few minutes.")
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
