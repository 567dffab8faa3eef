from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts (read model)"

    def ready(self) -> None:
        # Contributions to the shell: start-page cards, search sources (apps.home.registry).
        from apps.accounts import shell

        shell.register()
