from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"
    verbose_name = "Event intake"

    def ready(self) -> None:
        # Contributions to the shell: start-page cards, search sources (apps.home.registry).
        from apps.events import shell

        shell.register()
