"""Check every balance against its ledger: prints mismatches, exits non-zero if any."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum

from credits.models import CreditBalance, CreditTransaction


class Command(BaseCommand):
    help = "Recompute every balance from the ledger and report any difference or negative balance."

    def handle(self, *args: Any, **options: Any) -> None:
        sums = dict(
            CreditTransaction.objects.filter(user__isnull=False)
            .values_list("user_id")
            .annotate(total=Sum("amount"))
            .values_list("user_id", "total")
        )
        balances = dict(CreditBalance.objects.values_list("user_id", "balance"))
        problems = []
        for user_id in sorted(set(sums) | set(balances)):
            ledger, balance = sums.get(user_id, 0), balances.get(user_id, 0)
            if ledger != balance:
                problems.append(f"user {user_id}: balance {balance} but ledger sums to {ledger}")
            if balance < 0:
                problems.append(f"user {user_id}: negative balance {balance}")
        for line in problems:
            self.stdout.write(line)
        self.stdout.write(f"Checked {len(set(sums) | set(balances))} balances: {len(problems)} problem(s).")
        if problems:
            raise CommandError("Credit audit failed.")
