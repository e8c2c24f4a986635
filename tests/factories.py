"""Test data factories, one place for all apps."""

from __future__ import annotations

import factory

from accounts.models import User
from accounts.services import user_signup

DEFAULT_PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    """Accounts made the way every real account is made.

    Confirmed by default (so they start with 3 credits and may start jobs);
    ``UserFactory(email_confirmed=False)`` is a fresh sign-up that has not clicked its link.
    """

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Faker("name")
    email_confirmed = True

    @classmethod
    def _create(cls, model_class: type[User], *args: object, **kwargs: object) -> User:
        password = kwargs.pop("password", DEFAULT_PASSWORD)
        user = user_signup(
            email=kwargs.pop("email"),
            password=password,
            name=kwargs.pop("name", ""),
            email_confirmed=bool(kwargs.pop("email_confirmed")),
        )
        if kwargs:
            for field, value in kwargs.items():
                setattr(user, field, value)
            user.save()
        return user
