"""Account pages: sign up/in/out, password change and reset, the account page with tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from accounts.forms import ApiTokenForm, PreferencesForm, SignInForm, SignUpForm
from accounts.selectors import api_token_list_for_user
from accounts.services import (
    EmailTaken,
    api_token_create,
    api_token_revoke,
    user_signup,
    user_update_preferences,
)


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
