"""Admin for people, their API tokens and data exports.

Suspension goes through the Suspend action (it also cancels and refunds open jobs and revokes
share links), so ``is_active`` is read-only on the form.

Roles: only superusers grant rights (``is_staff``, ``is_superuser``, groups, permissions) and
only they change another staff account (its email or password: either would hand over that
account); other staff see those read-only. A revoked API token stays revoked.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accounts.forms import AdminSetPasswordForm
from accounts.models import ApiToken, DataExport, User
from accounts.selectors import account_deletion_summary
from accounts.services import account_erase, api_token_update
from credits.admin import ReadOnlyAdmin
from credits.models import PAID_STATUSES, CreditBalance, Membership
from processing.moderation import user_suspend, user_unsuspend
from rekindle.admin_tools import run_each
from rekindle.exceptions import DomainError


class TierFilter(admin.SimpleListFilter):
    title = "tier"
    parameter_name = "tier"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("free", "Free"), ("paid", "Paid plan")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        paying = Membership.objects.filter(status__in=PAID_STATUSES).values("user_id")
        if self.value() == "paid":
            return queryset.filter(pk__in=paying)
        if self.value() == "free":
            return queryset.exclude(pk__in=paying)
        return queryset


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-date_joined"]
    list_display = [
        "email", "name", "plan", "balance", "photo_count", "job_count", "is_active", "suspended_at",
        "is_staff", "date_joined", "last_login",
    ]  # fmt: skip
    list_filter = ["is_active", TierFilter, "is_staff", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "notify_by_email")}),
        ("Status", {"fields": ("is_active", "suspended_at", "email_confirmed_at")}),
        ("Permissions", {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    readonly_fields = ["last_login", "date_joined", "is_active", "suspended_at", "email_confirmed_at"]
    change_password_form = AdminSetPasswordForm
    actions = ["suspend", "unsuspend", "erase"]
    # What grants rights: only a superuser may change these (see get_readonly_fields).
    RIGHTS_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [f for f in self.RIGHTS_FIELDS if f not in fields]
        return fields

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # Another staff account (its email, its password through user_change_password) is a
        # superuser's to change: changing either would let one staff member become another.
        if obj is not None and obj.is_staff and obj.pk != request.user.pk and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        balance = CreditBalance.objects.filter(user=OuterRef("pk")).values("balance")[:1]
        plan = Membership.objects.filter(user=OuterRef("pk"), status__in=PAID_STATUSES).values("plan")[:1]
        return (
            super()
            .get_queryset(request)
            .annotate(
                balance_value=Subquery(balance),
                plan_value=Subquery(plan),
                photo_total=Count("photos", distinct=True),
                job_total=Count("jobs", distinct=True),
            )
        )

    @admin.display(description="Plan", ordering="plan_value")
    def plan(self, user: User) -> str:
        return user.plan_value or "free"

    @admin.display(description="Credits", ordering="balance_value")
    def balance(self, user: User) -> int:
        return user.balance_value or 0

    @admin.display(description="Photos", ordering="photo_total")
    def photo_count(self, user: User) -> int:
        return user.photo_total

    @admin.display(description="Jobs", ordering="job_total")
    def job_count(self, user: User) -> int:
        return user.job_total

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return request.user.is_staff and request.user.has_perm("accounts.change_user")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # A plain row delete would leave the person's files in storage and the Stripe customer
        # behind; accounts are deleted by accounts.services.account_delete (the person's own
        # "Delete my account"), which removes both.
        return False

    @admin.action(
        description="Suspend (no sign-in, open jobs cancelled and refunded)", permissions=["moderate"]
    )
    def suspend(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        def act(person: User) -> str:
            cancelled = user_suspend(user=person, actor=request.user, reason="From the people list")
            return f"{person}: suspended, {cancelled} open job(s) cancelled and refunded."

        run_each(self, request, queryset, act)

    @admin.action(description="Lift the suspension", permissions=["moderate"])
    def unsuspend(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        def act(person: User) -> str:
            user_unsuspend(user=person, actor=request.user, reason="From the people list")
            return f"{person}: may sign in again."

        run_each(self, request, queryset, act)

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    @admin.action(
        description="Erase the account and all its data (an erasure request)", permissions=["erase"]
    )
    def erase(self, request: HttpRequest, queryset: QuerySet[User]) -> TemplateResponse | None:
        """For erasure requests that reach support: the same deletion as "Delete my account"."""
        if "confirm" not in request.POST:
            people = [(person, account_deletion_summary(user=person)) for person in queryset]
            context = {
                **self.admin_site.each_context(request),
                "title": "Erase these accounts?",
                "opts": self.model._meta,
                "people": people,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/accounts/user/erase_confirm.html", context)

        def act(person: User) -> str:
            user_id = person.pk
            account_erase(user=person, actor=request.user)
            return f"Account {user_id}: erased (files, personal data; the ledger kept anonymised)."

        run_each(self, request, list(queryset), act)
        return None


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["user__email", "prefix", "name"]
    readonly_fields = ["user", "prefix", "secret_hash", "created_at", "last_used_at"]
    list_select_related = ["user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are made by their owner, who alone sees the secret

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.revoked_at is not None:
            fields.append("revoked_at")  # a revoked token is never restored
        return fields

    def save_model(self, request: HttpRequest, obj: ApiToken, form: object, change: bool) -> None:
        # Through the service, which refuses to clear revoked_at even if a form were to try.
        try:
            api_token_update(token_id=obj.pk, name=obj.name, revoked_at=obj.revoked_at, actor=request.user)
        except DomainError as exc:
            raise PermissionDenied(exc.message) from exc


@admin.register(DataExport)
class DataExportAdmin(ReadOnlyAdmin):
    # The zip itself is the person's data: staff see that it exists, not its contents.
    list_display = ["id", "user", "status", "size_bytes", "created_at", "finished_at", "expires_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    fields = ["user", "status", "size_bytes", "error", "created_at", "finished_at", "expires_at"]
