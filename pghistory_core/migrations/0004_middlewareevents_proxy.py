# MiddlewareEvents becomes a proxy of Events, as in django-pghistory 3.x (both are unmanaged:
# no table is created or dropped).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("pghistory_core", "0003_context_settings"),
    ]

    operations = [
        migrations.DeleteModel(name="MiddlewareEvents"),
        migrations.CreateModel(
            name="MiddlewareEvents",
            fields=[],
            options={"proxy": True, "indexes": [], "constraints": []},
            bases=("pghistory_core.events",),
        ),
    ]
