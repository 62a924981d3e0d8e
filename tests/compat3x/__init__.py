"""A small project recorded by the real django-pghistory 3.x, then switched to pghistory_core.

``tests/core/test_adopt3x.py`` copies these files to a temporary directory and runs every step
(3.x's ``makemigrations``/``migrate``/writes, the switch, ``pghistory_adopt_3x``, the checks) in
a fresh interpreter: the two apps cannot be loaded into one process.
"""
