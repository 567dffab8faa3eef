"""The currency filter reads its accounts newest first from one index (built concurrently)."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("accounts", "0003_balance_index")]

    operations = [
        AddIndexConcurrently(
            model_name="account",
            index=models.Index(
                fields=["currency", "created_at", "account_id"], name="account_currency_created"
            ),
        ),
        RemoveIndexConcurrently(model_name="account", name="account_currency"),
    ]
