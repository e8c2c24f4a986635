"""Admin: the ledger is read-only; credits change only through the adjustment action.

Clawbacks (refunded or disputed payments) are read-only too: the list filters those whose
credits the balance could not cover (``uncollected``) and those still waiting for their payment.

Infrastructure costs (for the business metrics' margin) are ordinary staff-entered rows.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path

from accounts.models import User
from credits.models import Clawback, CreditBalance, CreditTransaction, InfraCost, Membership, StripePayment
from credits.services import credits_adjust
from rekindle.exceptions import DomainError


class AdjustForm(forms.Form):
    amount = forms.IntegerField(help_text="Positive adds credits, negative removes them.")
    reason = forms.CharField(max_length=200, help_text="Shown to the person in their credit history.")


class AdjustPersonForm(AdjustForm):
    email = forms.EmailField(help_text="Anyone with an account, even one that never had credits.")

    field_order = ["email", "amount", "reason"]

    def clean_email(self) -> User:
        user = User.objects.filter(email__iexact=self.cleaned_data["email"]).first()
        if user is None:
            raise forms.ValidationError("No account has this email address.")
        return user


def _may_adjust(request: HttpRequest) -> bool:
    # Writing a ledger row is what "add credit transaction" means; the ledger admin itself
    # refuses adds, so this permission only opens the adjustment action and page.
    return request.user.has_perm("credits.add_credittransaction")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CreditTransaction)
class CreditTransactionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "amount", "balance_after", "reason", "job_id"]
    list_filter = ["kind", "created_at"]
    search_fields = ["user__email", "reason", "idempotency_key", "stripe_id"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"


@admin.register(CreditBalance)
class CreditBalanceAdmin(ReadOnlyAdmin):
    list_display = ["user", "balance", "updated_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    actions = ["adjust"]

    def has_adjust_permission(self, request: HttpRequest) -> bool:
        return _may_adjust(request)

    def get_urls(self) -> list[URLPattern]:
        adjust_one = path(
            "adjust/", self.admin_site.admin_view(self.adjust_person), name="credits_creditbalance_adjust"
        )
        return [adjust_one, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "may_adjust": _may_adjust(request)}
        return super().changelist_view(request, extra_context)

    def adjust_person(self, request: HttpRequest) -> HttpResponse:
        """Adjust one person's credits by email (people without a balance row yet included)."""
        if not _may_adjust(request):
            raise PermissionDenied
        form = AdjustPersonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            person = form.cleaned_data["email"]
            try:
                credits_adjust(
                    user=person,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    admin_user=request.user,
                )
            except DomainError as exc:
                form.add_error("amount", exc.message)
            else:
                self.message_user(request, f"{person}: adjusted by {form.cleaned_data['amount']}.")
                return redirect("admin:credits_creditbalance_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "Adjust a person's credits",
        }
        return render(request, "admin/credits/adjust_person.html", context)

    @admin.action(description="Adjust credits (asks for an amount and a reason)", permissions=["adjust"])
    def adjust(self, request: HttpRequest, queryset) -> HttpResponse | None:
        form = AdjustForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for balance in queryset.select_related("user"):
                try:
                    credits_adjust(
                        user=balance.user,
                        amount=form.cleaned_data["amount"],
                        reason=form.cleaned_data["reason"],
                        admin_user=request.user,
                    )
                except DomainError as exc:
                    self.message_user(request, f"{balance.user}: {exc.message}", messages.ERROR)
                else:
                    self.message_user(request, f"{balance.user}: adjusted by {form.cleaned_data['amount']}.")
            return None
        return render(
            request,
            "admin/credits/adjust.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "balances": queryset,
                "title": "Adjust credits",
            },
        )


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "plan", "interval", "status", "current_period_end"]
    list_filter = ["plan", "status", "interval"]
    search_fields = ["user__email", "stripe_subscription_id"]


class ClawbackStateFilter(admin.SimpleListFilter):
    """What needs staff: credits the balance could not cover, or a payment not seen yet."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("uncollected", "Credits not collected"),
            ("pending", "Payment not seen yet"),
            ("settled", "Settled"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Clawback]) -> QuerySet[Clawback]:
        if self.value() == "uncollected":
            return queryset.filter(uncollected__gt=0)
        if self.value() == "pending":
            return queryset.filter(payment__isnull=True)
        if self.value() == "settled":
            return queryset.filter(payment__isnull=False, uncollected=0)
        return queryset


@admin.register(Clawback)
class ClawbackAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "cause", "stripe_id", "owed", "taken", "uncollected", "payment"]
    list_filter = [ClawbackStateFilter, "cause", "created_at"]
    search_fields = ["user__email", "stripe_id", "charge_id", "payment_intent", "payment__source_id", "key"]
    list_select_related = ["user", "payment"]


@admin.register(StripePayment)
class StripePaymentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "source_id", "amount_cents", "subscription_id"]
    list_filter = ["kind"]
    search_fields = ["user__email", "source_id", "payment_intent", "subscription_id"]
    list_select_related = ["user"]


class InfraCostMonthFilter(admin.SimpleListFilter):
    """One choice per month that has entries, newest first ("November 2026")."""

    title = "month"
    parameter_name = "month"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        months = InfraCost.objects.order_by("-month").values_list("month", flat=True).distinct()
        return [(f"{month:%Y-%m-%d}", f"{month:%B %Y}") for month in months]

    def queryset(self, request: HttpRequest, queryset: QuerySet[InfraCost]) -> QuerySet[InfraCost]:
        if not self.value():
            return queryset
        try:
            month = date.fromisoformat(self.value())
        except ValueError:
            return queryset.none()
        return queryset.filter(month=month.replace(day=1))


@admin.register(InfraCost)
class InfraCostAdmin(admin.ModelAdmin):
    """Monthly infrastructure costs for the business metrics' margin; who entered each is kept."""

    list_display = ["month_display", "name", "amount", "created_by", "created_at"]
    list_filter = [InfraCostMonthFilter]
    search_fields = ["name"]
    list_select_related = ["created_by"]
    date_hierarchy = "month"
    fields = ["month", "name", "amount", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]

    @admin.display(description="Month", ordering="month")
    def month_display(self, cost: InfraCost) -> str:
        return f"{cost.month:%B %Y}"

    def save_model(self, request: HttpRequest, obj: InfraCost, form: object, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # whoever entered it, never chosen in the form
        super().save_model(request, obj, form, change)
