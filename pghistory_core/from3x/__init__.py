"""Stands in for django-pghistory 3.x's ``pghistory`` app in a project that switched.

Migrations that django-pghistory 3.x generated for a project depend on ``("pghistory", "00NN_…")``
and point ``pgh_context`` at ``"pghistory.context"``. This app has the label ``pghistory`` and
migrations of the same names, so those migrations keep loading (and count as applied) after
``pghistory`` is removed from ``INSTALLED_APPS``. It changes nothing in a database that 3.x set up;
in a new one it creates the empty ``pghistory_context`` table. See ``manage.py pghistory_adopt_3x``.
"""
