import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    """Named like django-pghistory 3.x's migration: applied already where 3.x was installed."""

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Context",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("metadata", models.JSONField(default=dict)),
            ],
        ),
    ]
