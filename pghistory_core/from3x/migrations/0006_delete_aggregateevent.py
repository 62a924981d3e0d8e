from django.db import migrations


class Migration(migrations.Migration):
    """Named like django-pghistory 3.x's migration, so migrations depending on it still load."""

    dependencies = [("pghistory", "0005_events_middlewareevents")]

    operations = []
