"""Benchmarks: write and read costs of pghistory-admin next to django-pghistory and django-simple-history.

Run with ``python -m bench`` (or ``nox -s bench``); results go to ``bench/RESULTS.md`` and
``bench/results.json``.
"""
