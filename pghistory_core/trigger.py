"""Compatibility alias of django-pghistory 3.x's private module ``pghistory.trigger``.

3.x code (and 3.x's own tests) import ``pghistory.trigger.Event``, the django-pgtrigger trigger
that writes one event; after the rename they import ``pghistory_core.trigger.Event``. It is an
:class:`~pghistory_core.triggers.EventTrigger` built from 3.x's keyword arguments. Trackers
(:func:`pghistory_core.track`) remain the way to declare events; this class exists so that code
written against 3.x's internals keeps importing and running.
"""

from __future__ import annotations

from typing import Any

import pgtrigger

from pghistory_core import config
from pghistory_core.trackers import RowEvent
from pghistory_core.triggers import EventTrigger, _condition_sql, _trigger_name


class _FuncSQL(str):
    """The function body; ``.func`` as on the object 3.x's ``get_func`` returns."""

    @property
    def func(self) -> str:
        return str(self)


class Event(EventTrigger):
    """3.x's ``pghistory.trigger.Event(event_model=…, label=…, operation=…, …)``."""

    def __init__(
        self,
        *,
        name: str | None = None,
        operation: pgtrigger.Operation | str | None = None,
        condition: Any = None,
        label: str | None = None,
        event_model: Any = None,
        when: Any = None,
        row: str | None = None,
        snapshot: str | None = None,
        level: pgtrigger.Level | None = None,
    ) -> None:
        if not label:
            raise ValueError('Must provide "label"')
        if event_model is None:
            raise ValueError('Must provide "event_model"')
        if operation is None:
            raise ValueError('Must provide "operation"')
        op = str(operation).upper()
        tracker = RowEvent(
            label,
            operation=getattr(pgtrigger, op.capitalize()),
            condition=condition,
            row=row or snapshot,
            level=level,
        )
        super().__init__(
            name=name or _trigger_name(label, op.lower()),
            event_model=event_model,
            label=label,
            operation=op,
            row=row or snapshot or tracker.row_for(op),
            level=level or event_model.pgh_level or config.level(),
            condition_sql=_condition_sql(tracker, event_model, op),
        )

    def get_func(self, model: Any) -> str:
        return _FuncSQL(super().get_func(model))


__all__ = ["Event"]
