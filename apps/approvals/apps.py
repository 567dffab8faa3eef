from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "apps.approvals"
    label = "approvals"
    verbose_name = "Refund and freeze requests (maker-checker)"

    def ready(self) -> None:
        # The queue's badge, start-page cards, search and record panels (apps.home.registry).
        from apps.approvals import shell

        shell.register()
