"""Check the books: every balance against its ledger, the running balances, and the CHECK.

Prints each problem and exits non-zero if there is any, so it can run from cron or CI.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import F, Sum, Window

from credits.models import CreditBalance, CreditTransaction


class Command(BaseCommand):
    help = (
        "Recompute every balance from the ledger; report differences, rows whose balance_after "
        "disagrees with the running sum, and negative balances."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        problems = self._balances() + self._running_sums()
        for line in problems:
            self.stdout.write(line)
        checked = CreditBalance.objects.count()
        self.stdout.write(f"Checked {checked} balances: {len(problems)} problem(s).")
        if problems:
            raise CommandError("Credit audit failed.")

    def _balances(self) -> list[str]:
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
        return problems

    def _running_sums(self) -> list[str]:
        # Rows are inserted while the balance row is locked, so id order is the order of changes.
        rows = (
            CreditTransaction.objects.filter(user__isnull=False)
            .annotate(running=Window(Sum("amount"), partition_by=[F("user_id")], order_by=F("id").asc()))
            .values_list("id", "user_id", "balance_after", "running")
        )
        return [
            f"user {user_id}: ledger row {row_id} says balance {after} but the rows up to it sum to {running}"
            for row_id, user_id, after, running in rows.iterator()
            if after != running or after < 0
        ]
