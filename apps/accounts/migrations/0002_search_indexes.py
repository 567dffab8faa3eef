# Search indexes for the accounts list: email and name prefixes, case-insensitive.
# (Plain btree with varchar_pattern_ops: no pg_trgm, which the embedded PostgreSQL lacks.)

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="account",
            index=models.Index(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("owner_email"), name="varchar_pattern_ops"
                ),
                name="account_email_prefix",
            ),
        ),
        migrations.AddIndex(
            model_name="account",
            index=models.Index(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("owner_name"), name="varchar_pattern_ops"
                ),
                name="account_name_prefix",
            ),
        ),
    ]
