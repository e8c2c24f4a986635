"""Prepare the embedded default for `make run` in one process: migrate, cache table, demo account.

Instead of Django's line per migration it prints one short progress line (updated in place on
a terminal) and how long it took; a database that is up to date says so in one line.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


class _QuietMigrate(MigrateCommand):
    """Django's migrate, reporting "step i/n" on one line instead of one line per migration."""

    def __init__(self, *, total: int, report: Any) -> None:
        super().__init__()
        self.total = total
        self.done = 0
        self.report = report

    def migration_progress_callback(self, action: str, migration: Any = None, fake: bool = False) -> None:
        if action == "apply_success":
            self.done += 1
            self.report(self.done, self.total)


class Command(BaseCommand):
    help = "Migrate, create the cache table and the demo account for `make run` (embedded default only)."

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        if not settings.LOCAL_DEFAULTS:
            raise CommandError(
                "setup_embedded prepares the local embedded default only (neither EMBEDDED nor DEBUG is on)."
            )
        # The steps' own INFO records (sign-up, the first free credits) are noise on this console.
        logging.disable(logging.INFO)
        try:
            self._setup()
        finally:
            logging.disable(logging.NOTSET)

    def _setup(self) -> None:
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
        started = time.monotonic()
        if pending:
            on_tty = self.stdout.isatty()
            self.stdout.write(
                f"Preparing the database ({pending} steps; a new database takes a few seconds)…",
                ending="" if on_tty else "\n",
            )

            def report(done: int, total: int) -> None:
                if on_tty:
                    self.stdout.write(f"\rPreparing the database… {done}/{total}\033[K", ending="")
                    self.stdout.flush()

            call_command(_QuietMigrate(total=pending, report=report), interactive=False, verbosity=0)
            if on_tty:
                self.stdout.write("\r\033[K", ending="")
        call_command("createcachetable", verbosity=0)
        if pending:
            self.stdout.write(f"Database ready in {time.monotonic() - started:.1f} s.")
        else:
            self.stdout.write("Database is up to date.")
        call_command("ensure_demo_user", stdout=self.stdout)
