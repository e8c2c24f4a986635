"""Account forms: email is the login everywhere."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AdminPasswordChangeForm, AuthenticationForm

from accounts.models import User
from accounts.services import user_password_changed


class SignUpForm(forms.Form):
    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters, not a common password.",
    )
    password2 = forms.CharField(
        label="Repeat password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this email already exists. Sign in or reset your password."
            )
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords don't match.")
        elif p1:
            try:
                password_validation.validate_password(p1, User(email=cleaned.get("email", "")))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class SignInForm(AuthenticationForm):
    """Django's sign-in form with a clearer message (that does not say which part was wrong)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password don't match an account. Check both and try again.",
        "inactive": "This account is suspended. Contact support if you think this is a mistake.",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Email"
        self.fields["username"].widget = forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except forms.ValidationError as exc:
            # ModelBackend refuses suspended accounts like wrong passwords; someone who proved the
            # password deserves to know why they can't get in (and nobody else learns anything).
            person = User.objects.filter(email__iexact=self.cleaned_data.get("username") or "").first()
            password = self.cleaned_data.get("password") or ""
            if person is not None and not person.is_active and person.check_password(password):
                raise forms.ValidationError(self.error_messages["inactive"], code="inactive") from exc
            raise


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Token name", max_length=60, help_text="Where will you use it? e.g. 'laptop script'."
    )


class PreferencesForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=150, required=False)
    notify_by_email = forms.BooleanField(
        label="Email me when a photo is ready or a job fails", required=False
    )


class AccountDeleteForm(forms.Form):
    """Confirm with the password; an account without one (social sign-in) types its email instead."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    confirm_email = forms.CharField(label="Type your email address to confirm", required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uses_password = user.has_usable_password()
        if self.uses_password:
            del self.fields["confirm_email"]
            self.fields["password"].required = True
        else:
            del self.fields["password"]
            self.fields["confirm_email"].required = True
            self.fields["confirm_email"].help_text = f"Type {user.email}"
            self.fields["confirm_email"].widget.attrs["autocomplete"] = "off"


class AdminSetPasswordForm(AdminPasswordChangeForm):
    """The admin's "Change password" page: the same consequences as the person changing it
    (every API token revoked; other sessions end because the password hash changed)."""

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=commit)
        if commit:
            user_password_changed(user=user)
        return user
