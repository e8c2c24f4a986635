"""Create (or reset) the demo account that `make run` prints, for trying the site locally."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import user_email_confirm, user_signup

DEMO_EMAIL = "demo@rekindle.local"
DEMO_PASSWORD = "rekindle-demo-photos"  # noqa: S105 -- printed by `make run`, local only


class Command(BaseCommand):
    help = "Create the local demo account (embedded default only) and print its credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        if not settings.LOCAL_DEFAULTS:
            raise CommandError("The demo account is for local use only (neither EMBEDDED nor DEBUG is on).")
        user = User.objects.filter(email__iexact=DEMO_EMAIL).first()
        if user is None:
            # Confirmed at once: nobody reads the demo address's mail, and it should work at once.
            user = user_signup(email=DEMO_EMAIL, password=DEMO_PASSWORD, name="Demo", email_confirmed=True)
        else:
            user.set_password(DEMO_PASSWORD)
            user.is_active = True
            user.save(update_fields=["password", "is_active"])
            user_email_confirm(user=user)
        self.stdout.write(f"Demo account: {DEMO_EMAIL} / {DEMO_PASSWORD}")
