from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "apps.identity"
    label = "identity"
    verbose_name = "Identity and roles"

    def ready(self) -> None:
        from apps.identity import signals  # noqa: F401 — connects the receivers
