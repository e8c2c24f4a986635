"""Accounts: the user (email is the login), personal API tokens and data exports."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        # Whoever runs createsuperuser on the server is trusted with the address they type.
        extra.setdefault("email_confirmed_at", timezone.now())
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # Sign-in is case-insensitive: "Ada@Example.com" is the same person as "ada@example.com".
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField("email address", unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Can sign in to the admin.")
    is_active = models.BooleanField(default=True, help_text="Unticked for suspended accounts.")
    # Set by moderation (processing.moderation.user_suspend); who did it is in ModerationAction.
    suspended_at = models.DateTimeField(null=True, blank=True)
    # Sent when a job finishes and the person has left the page.
    notify_by_email = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # When the person proved the address is theirs (the emailed link, a password reset, or a
    # provider that vouches for it). Until then no API tokens, no jobs and no free credits.
    email_confirmed_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email.split("@")[0]

    @property
    def email_confirmed(self) -> bool:
        return self.email_confirmed_at is not None


class ApiToken(models.Model):
    """A personal API token. The secret is shown once; only its SHA-256 is stored.

    Tokens are 32 random bytes, so a fast hash is enough (nothing to brute-force), and the
    public ``prefix`` finds the row without scanning.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=60)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class DataExportStatus(models.TextChoices):
    PENDING = "pending", "Being prepared"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DataExport(models.Model):
    """A "download my data" zip, built by a Celery task and offered through a signed, expiring URL."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(
        max_length=16, choices=DataExportStatus.choices, default=DataExportStatus.PENDING
    )
    file = models.FileField(upload_to="exports/", blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # After this the file is deleted and the link stops working.
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Export {self.pk} for {self.user_id} ({self.status})"
