"""ApiKey moved to `accounts`: the table stays, only the model's state leaves this app."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("clipsite", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ApiKey")],
            database_operations=[],
        )
    ]
