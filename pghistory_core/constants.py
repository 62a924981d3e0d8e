"""Names and sentinels shared across the package (``pghistory.constants`` in 3.x).

Database object and session-setting names the triggers, the runtime and the SQL builders
agree on, and the sentinels of field configurations and trackers. Imports nothing.
"""

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


#: The sequence every event table draws ``pgh_id`` from, so ids order events across models.
EVENT_ID_SEQUENCE = "pghistory_core_event_id_seq"
#: The table of contexts (``models.Context``).
CONTEXT_TABLE = "pghistory_core_context"
#: Transaction-local settings the triggers read (not django-pghistory's, so both can run side by side).
CONTEXT_ID_SETTING = "pghistory_core.context_id"
CONTEXT_METADATA_SETTING = "pghistory_core.context_metadata"
#: Session-level setting of the connections Django opens (``runtime.mark_django_session``).
DJANGO_SESSION_SETTING = "pghistory_core.django_session"
#: Where event triggers link an event under a changed primary key to the old key (``KeyChange``).
KEY_CHANGE_TABLE = "pghistory_core_keychange"
