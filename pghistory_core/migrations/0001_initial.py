import uuid

from django.conf import settings
from django.db import migrations, models

from pghistory_core import sql


class Migration(migrations.Migration):
    initial = True

    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.RunSQL(sql.SEQUENCE_SQL, f"DROP SEQUENCE IF EXISTS {sql.EVENT_ID_SEQUENCE};"),
        migrations.CreateModel(
            name="Context",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("metadata", models.JSONField(default=dict)),
            ],
            options={
                "indexes": [models.Index(fields=["created_at"], name="pghistory_core_ctx_created")],
            },
        ),
        migrations.RunSQL(sql.FUNCTIONS_SQL, sql.DROP_SQL),
        migrations.CreateModel(
            name="Events",
            fields=[
                ("pgh_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("pgh_created_at", models.DateTimeField()),
                ("pgh_label", models.TextField()),
                ("pgh_model", models.TextField(help_text="The event model, as 'app_label.ModelName'.")),
                ("pgh_obj_model", models.TextField(help_text="The tracked model, as 'app_label.ModelName'.")),
                ("pgh_obj_id", models.TextField(null=True)),
                ("pgh_data", models.JSONField()),
                ("pgh_diff", models.JSONField(null=True)),
                ("pgh_context_metadata", models.JSONField(null=True)),
            ],
            options={
                "db_table": "pghistory_core_events",
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="MiddlewareEvents",
            fields=[
                ("pgh_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("pgh_created_at", models.DateTimeField()),
                ("pgh_label", models.TextField()),
                ("pgh_model", models.TextField(help_text="The event model, as 'app_label.ModelName'.")),
                ("pgh_obj_model", models.TextField(help_text="The tracked model, as 'app_label.ModelName'.")),
                ("pgh_obj_id", models.TextField(null=True)),
                ("pgh_data", models.JSONField()),
                ("pgh_diff", models.JSONField(null=True)),
                ("pgh_context_metadata", models.JSONField(null=True)),
                ("url", models.TextField(null=True)),
            ],
            options={
                "db_table": "pghistory_core_middlewareevents",
                "managed": False,
            },
        ),
    ]
