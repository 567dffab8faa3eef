from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "apps.api"
    label = "api"
    verbose_name = "The portal's API for the Go services"

    def ready(self) -> None:
        from django.conf import settings

        # Registers the bearer-token scheme with drf-spectacular.
        from apps.api import schema  # noqa: F401
        from apps.api.authentication import parse_service_tokens

        # A malformed SERVICE_API_TOKENS stops every process at start, naming the bad entry.
        parse_service_tokens(settings.SERVICE_API_TOKENS)
