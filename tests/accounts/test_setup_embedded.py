"""`manage.py setup_embedded`: the one preparation step of `make run` (migrate, cache table,
demo account) with a short report instead of a line per migration."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User


@pytest.mark.django_db
def test_setup_on_a_migrated_database_says_so_in_one_line_and_creates_the_demo_account(settings):
    settings.LOCAL_DEFAULTS = True
    out = io.StringIO()
    call_command("setup_embedded", stdout=out)
    assert out.getvalue().splitlines() == [
        "Database is up to date.",
        "Demo account: demo@rekindle.local / rekindle-demo-photos",
    ]
    assert User.objects.filter(email="demo@rekindle.local", is_active=True).exists()


@pytest.mark.django_db
def test_setup_refuses_outside_the_local_embedded_default(settings):
    settings.LOCAL_DEFAULTS = False
    with pytest.raises(CommandError, match="neither EMBEDDED nor DEBUG is on"):
        call_command("setup_embedded", stdout=io.StringIO())
    assert not User.objects.filter(email="demo@rekindle.local").exists()
