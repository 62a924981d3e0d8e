from django.db import migrations, models


class Migration(migrations.Migration):
    """Named like django-pghistory 3.x's migration; its unmanaged aggregate models (no SQL)."""

    dependencies = [("pghistory", "0004_auto_20220906_1625")]

    operations = [
        migrations.CreateModel(
            name="Events",
            fields=[
                ("pgh_slug", models.TextField(primary_key=True, serialize=False)),
                ("pgh_model", models.CharField(max_length=64)),
                ("pgh_id", models.BigIntegerField()),
                ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
                ("pgh_label", models.TextField()),
                ("pgh_data", models.JSONField()),
                ("pgh_diff", models.JSONField()),
                ("pgh_context_id", models.UUIDField(null=True)),
                ("pgh_context", models.JSONField(null=True)),
                ("pgh_obj_model", models.CharField(max_length=64)),
                ("pgh_obj_id", models.TextField(null=True)),
            ],
            options={"verbose_name_plural": "events", "managed": False},
        ),
        migrations.CreateModel(
            name="MiddlewareEvents",
            fields=[],
            options={"verbose_name_plural": "middleware events", "proxy": True, "indexes": [], "constraints": []},
            bases=("pghistory.events",),
        ),
    ]
