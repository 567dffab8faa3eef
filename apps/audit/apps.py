from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Action log"

    def ready(self) -> None:
        # Contributions to the shell: start-page cards, search sources (apps.home.registry).
        from apps.audit import shell

        shell.register()
