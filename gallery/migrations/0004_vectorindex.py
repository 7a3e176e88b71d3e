"""VectorIndex, moved here from `workers`: its table (workers_vectorindex) already exists."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gallery", "0003_moderation"),
        ("workers", "0002_vectorindex_to_gallery"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="VectorIndex",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "model_name",
                            models.CharField(
                                help_text="CLIP_MODEL: hub id or directory.", max_length=500
                            ),
                        ),
                        ("model_id", models.CharField(max_length=255)),
                        ("collection", models.CharField(max_length=255, unique=True)),
                        ("dim", models.PositiveIntegerField()),
                        (
                            "state",
                            models.CharField(
                                choices=[
                                    ("building", "Building"),
                                    ("active", "Active"),
                                    ("retired", "Retired"),
                                ],
                                default="building",
                                max_length=16,
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("activated_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "workers_vectorindex",
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("state", "active")),
                                fields=("state",),
                                name="one_active_index",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        )
    ]
