from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "apps.approvals"
    label = "approvals"
    verbose_name = "Refund and freeze requests (maker-checker)"

    def ready(self) -> None:
        # The queue's badge, start-page cards, search and record panels (apps.home.registry).
        from apps.approvals import shell

        shell.register()
        # Requests are settled by the Go services' events the intake applies (apps.events.observers).
        from apps.approvals.services import settle_from_applied_events
        from apps.events import observers

        observers.register("approvals.settle", settle_from_applied_events)
