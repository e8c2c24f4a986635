"""Admin: the ledger is read-only; credits change only through the adjustment action."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from credits.models import CreditBalance, CreditTransaction, Membership
from credits.services import credits_adjust
from rekindle.exceptions import DomainError


class AdjustForm(forms.Form):
    amount = forms.IntegerField(help_text="Positive adds credits, negative removes them.")
    reason = forms.CharField(max_length=200)


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

    @admin.action(description="Adjust credits (asks for an amount and a reason)")
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
            {"form": form, "balances": queryset, "title": "Adjust credits"},
        )


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "plan", "interval", "status", "current_period_end"]
    list_filter = ["plan", "status", "interval"]
    search_fields = ["user__email", "stripe_subscription_id"]
