"""Sentinels shared by field configurations and trackers (``pghistory.constants`` in 3.x)."""

from __future__ import annotations

import enum


class Default(enum.Enum):
    token = 0


class Unset(enum.Enum):
    token = 0


#: A field configuration value meaning "do not override": the tracked field's own value (or
#: Django's default) is kept, e.g. ``Field(db_index=DEFAULT)``.
DEFAULT = Default.token
#: Marks an argument that was not given, so the setting or the tracked field decides.
UNSET = Unset.token
