"""App configuration of the stand-in for django-pghistory 3.x's app (label ``pghistory``)."""

from __future__ import annotations

from django.apps import AppConfig


class From3xConfig(AppConfig):
    name = "pghistory_core.from3x"
    label = "pghistory"
    verbose_name = "django-pghistory 3.x (switched to pghistory_core)"
    default_auto_field = "django.db.models.AutoField"
