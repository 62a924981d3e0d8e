from django.db import migrations

from pghistory_core import sql


class Migration(migrations.Migration):
    """The context functions read ``pghistory_core.*`` settings (not django-pghistory's)."""

    dependencies = [("pghistory_core", "0002_context_metadata_index")]

    operations = [migrations.RunSQL(sql.FUNCTIONS_SQL, migrations.RunSQL.noop)]
