from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "apps.payments"
    label = "payments"
    verbose_name = "Payments and refunds (read models)"

    def ready(self) -> None:
        # Contributions to the shell: start-page cards, search sources (apps.home.registry).
        from apps.payments import shell

        shell.register()
