from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "apps.workspace"
    label = "workspace"
    verbose_name = "Saved views and column choices"

    def ready(self) -> None:
        # Contributions to the shell: start-page cards, search sources (apps.home.registry).
        from apps.workspace import shell

        shell.register()
