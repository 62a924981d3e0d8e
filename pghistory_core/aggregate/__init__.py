"""The aggregate event stream: a ``UNION ALL`` over event tables, compiled on demand.

``union`` builds each table's ``SELECT`` and the expressions computed above the union for the
returned rows only (``pgh_diff`` costs a lookup of each returned event's predecessor);
``filters`` narrow the branches (objects, context metadata); ``query`` holds the ``Query``,
compiler, queryset and manager that ``models.Events`` uses.
"""

from pghistory_core.aggregate.query import (
    EventsCompiler,
    EventsManager,
    EventsQuery,
    EventsQuerySet,
)

__all__ = ["EventsCompiler", "EventsManager", "EventsQuery", "EventsQuerySet"]
