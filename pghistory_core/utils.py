"""Names of django-pghistory 3.x's ``pghistory.utils`` that its projects' migrations import."""

from __future__ import annotations

from typing import Any

from django.db import models

#: 3.x's ``pghistory.utils.JSONField`` (written into migrations of denormalised contexts): the
#: same field as Django's, so a migration naming it describes the same state.
JSONField = models.JSONField


def _psycopg_major_version() -> int:
    """3 when psycopg 3 is installed (Django prefers it), else 2 (psycopg2)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return 2
    return 3


#: 3.x's ``pghistory.utils.psycopg_maj_version``: the major version of the Postgres driver.
psycopg_maj_version: int = _psycopg_major_version()


def related_model(field: Any) -> type[models.Model] | None:
    """The concrete model a relation points at (``None`` for other fields), as in 3.x."""
    target = getattr(field, "related_model", None)
    if target is None or isinstance(target, str):
        return None
    return target._meta.concrete_model or target


__all__ = ["JSONField", "psycopg_maj_version", "related_model"]
