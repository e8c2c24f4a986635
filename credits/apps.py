from django.apps import AppConfig


class CreditsConfig(AppConfig):
    name = "credits"
    verbose_name = "Credits"

    def ready(self) -> None:
        # Connects our dj-stripe webhook signal receivers.
        from credits import webhooks  # noqa: F401
