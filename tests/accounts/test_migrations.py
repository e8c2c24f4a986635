"""The email-confirmation migration counts everyone who signed up before it as confirmed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("accounts", "0002_user_suspended_at_dataexport")]


def _migrate(targets: list[tuple[str, str]] | None = None):
    """Migrate to ``targets``; without them, forward to every app's latest migration."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_accounts_count_as_confirmed_so_nobody_loses_access():
    old_apps = _migrate(BEFORE)
    try:
        OldUser = old_apps.get_model("accounts", "User")
        person = OldUser.objects.create(email="early@example.com", password="!")
    finally:
        new_apps = _migrate()  # everything, so later tests find the schema they expect
    User = new_apps.get_model("accounts", "User")
    migrated = User.objects.get(pk=person.pk)
    assert migrated.email_confirmed_at == migrated.date_joined
