"""django-pghistory 3.x's events admin, under the new name (``"pghistory_core.admin"``).

A project moving from 3.x replaces ``"pghistory.admin"`` with ``"pghistory_core.admin"`` in
``INSTALLED_APPS`` and ``from pghistory.admin import EventModelAdmin`` with
``from pghistory_core.admin import EventModelAdmin``. The app registers ``EventsAdmin`` (or
``PGHISTORY_ADMIN_CLASS``) for ``PGHISTORY_ADMIN_MODEL`` (``pghistory_core.Events``). For a richer
history UI see the ``pghistory_admin`` app of this distribution; both can be installed.

Importing this package registers nothing (Django's admin autodiscovery imports it as the
``admin`` module of ``pghistory_core``); the app config does.
"""

from pghistory_core.admin.core import EventModelAdmin, EventsAdmin

__all__ = ["EventModelAdmin", "EventsAdmin"]
