"""Credit reads. (Interim: the credits work replaces this module with the real selectors.)"""

from __future__ import annotations

from accounts.models import User


def user_tier(*, user: User) -> str:
    """The person's tier: "free" or a paid plan's slug. Interim: everyone is free."""
    return "free"
