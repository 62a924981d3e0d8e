"""Field blame: for each tracked field of one object, the event that set its current value.

``blame(obj)`` (or ``blame(Model, pk)``, also for a deleted object's id) answers "who set this
price?" without reading a timeline. The work is bounded by the object's own events: for each
field, one backward walk of the ``(pgh_obj_id, pgh_id)`` index finds the newest event whose
value differs from the current one (it stops there), and a forward step finds the event after
it, which is the one that set the current value. All fields go in one statement.

Events are read as what they observe (``event_kinds``): an insert, a ``row=New`` update or a
manual event shows the row after it, a delete or a ``row=Old`` update the row before it. With
several event models on one model (one tracking a subset of the fields, say) each field is
read from the models that track it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connections, models, router

from pghistory_core import conditions, event_kinds
from pghistory_core.meta import column, pk
from pghistory_core.meta import field as model_field
from pghistory_core.triggers import literal, quote

if TYPE_CHECKING:
    from pghistory_core.models import BaseEvents, Event

__all__ = ["Blame", "BlameEvent", "FieldBlame", "blame"]

#: ``FieldBlame.status``: the value was set by ``event``, a change.
CHANGED = "changed"
#: Unchanged since ``event`` created the object.
CREATED = "created"
#: Unchanged since ``event``, the first one recorded; tracking began after the object existed.
TRACKED = "tracked"
#: The value changed after the last event that records the field, by a write no event records
#: (a tracker's condition skipped it, or tracking was paused). ``event`` is ``None``.
UNRECORDED = "unrecorded"


@dataclass(frozen=True)
class BlameEvent:
    """An event named by a blame, with who and what made it (its context metadata)."""

    #: The event as a row of the aggregate stream (``pghistory_core.models.Events``).
    row: BaseEvents

    @property
    def pgh_id(self) -> int:
        return self.row.pgh_id

    @property
    def pgh_created_at(self) -> datetime:
        return self.row.pgh_created_at

    @property
    def pgh_label(self) -> str:
        return self.row.pgh_label

    @property
    def pgh_model(self) -> str:
        """The event model, as ``"app_label.ModelName"``."""
        return self.row.pgh_model

    @property
    def metadata(self) -> dict[str, Any]:
        """The context metadata (``{}`` outside any context)."""
        return dict(self.row.pgh_context_metadata or {})

    @property
    def user(self) -> Any:
        """The context's ``user`` (a user id when ``HistoryMiddleware`` recorded it)."""
        return self.metadata.get("user")

    @property
    def url(self) -> str | None:
        return self.metadata.get("url")

    @property
    def command(self) -> str | None:
        return self.metadata.get("command")


@dataclass(frozen=True)
class FieldBlame:
    """One tracked field: its current value and the event that set it."""

    name: str
    attname: str
    value: Any
    #: ``CHANGED``, ``CREATED``, ``TRACKED`` or ``UNRECORDED`` (see the module constants).
    status: str
    event: BlameEvent | None

    @property
    def changed(self) -> bool:
        """Whether the value was set by a change after the object's first event."""
        return self.status == CHANGED


@dataclass(frozen=True)
class Blame:
    """The blame of one object: ``fields`` in model order, also reachable by name."""

    model: type[models.Model]
    pk: Any
    #: Whether the row exists (a deleted object's values are those of its last event).
    exists: bool
    fields: list[FieldBlame]
    #: The object's first and last events (``None`` without any).
    first: BlameEvent | None = None
    last: BlameEvent | None = None
    _by_name: dict[str, FieldBlame] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({f.name: f for f in self.fields})
        self._by_name.update({f.attname: f for f in self.fields})

    def __getitem__(self, name: str) -> FieldBlame:
        return self._by_name[name]

    def __iter__(self) -> Iterator[FieldBlame]:
        return iter(self.fields)


@dataclass
class _Ends:
    """First and last event of one event model for the object."""

    first: int | None = None
    first_label: str | None = None
    last: int | None = None


def _resolve(obj_or_model: Any, pk_value: Any) -> tuple[type[models.Model], Any]:
    if isinstance(obj_or_model, models.Model):
        if pk_value is not None:
            raise TypeError("Pass an object, or a model and a primary key, not both.")
        if obj_or_model.pk is None:
            raise ValueError(f"Save {obj_or_model._meta.label} before asking for its history.")
        return type(obj_or_model), obj_or_model.pk
    if isinstance(obj_or_model, type) and issubclass(obj_or_model, models.Model):
        if pk_value is None:
            raise TypeError(f"Pass the primary key of the {obj_or_model._meta.label} as well.")
        return obj_or_model, pk(obj_or_model).to_python(pk_value)
    raise TypeError(f"Expected a model instance or a model class, not {obj_or_model!r}.")


def tracked_names(event_models: list[type[Event]], model: type[models.Model]) -> list[str]:
    """Names of the fields some event model records, in model order (the primary key left out)."""
    recorded = {name for event_model in event_models for name in event_model.pgh_tracked_fields}
    return [f.name for f in model._meta.concrete_fields if f.name in recorded and not f.primary_key]


def _ends(event_models: list[type[Event]], obj_pk: Any, using: str) -> dict[type[Event], _Ends]:
    """One statement: each event model's first event (and its label) and last event id."""
    parts, params = [], []
    for index, event_model in enumerate(event_models):
        table, obj = quote(event_model._meta.db_table), quote(column(event_model, "pgh_obj"))
        parts.append(
            f"SELECT {index}, f.pgh_id, f.pgh_label::text, "
            f"(SELECT l.pgh_id FROM {table} AS l WHERE l.{obj} = %s ORDER BY l.pgh_id DESC LIMIT 1) "
            f"FROM (SELECT 1) AS _ LEFT JOIN LATERAL (SELECT e.pgh_id, e.pgh_label FROM {table} AS e "
            f"WHERE e.{obj} = %s ORDER BY e.pgh_id LIMIT 1) AS f ON TRUE"
        )
        params += [obj_pk, obj_pk]
    with connections[using].cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    return {event_models[i]: _Ends(first, label, last) for i, first, label, last in rows}


def _reference_sql(
    model: type[models.Model],
    name: str,
    obj_pk: Any,
    exists: bool,
    newest: type[Event] | None,
    using: str,
) -> tuple[str, list[Any]]:
    """SQL of the field's current value: the row's (via the ORM, so inherited fields join in),
    or for a deleted object the value in the newest event that records it."""
    if exists:
        query = model._base_manager.using(using).filter(pk=obj_pk).values(name).query
        sql, params = query.get_compiler(using).as_sql()
        return f"({sql})", list(params)
    if newest is None:  # pragma: no cover - a field with no recording model is not blamed
        return "NULL", []
    table, obj = quote(newest._meta.db_table), quote(column(newest, "pgh_obj"))
    return (
        f"(SELECT r.{quote(column(newest, name))} FROM {table} AS r WHERE r.{obj} = %s "
        "ORDER BY r.pgh_id DESC LIMIT 1)",
        [obj_pk],
    )


def _field_sql(
    index: int,
    name: str,
    event_models: list[type[Event]],
    reference: tuple[str, list[Any]],
    obj_pk: Any,
) -> tuple[str, list[Any]]:
    """The newest event recording another value than the current one, and the event after it."""
    newest_parts, next_parts = [], []
    newest_params: list[Any] = []
    next_params: list[Any] = []
    ref_sql, ref_params = reference
    for event_model in event_models:
        table, obj = quote(event_model._meta.db_table), quote(column(event_model, "pgh_obj"))
        col = quote(column(event_model, name))
        label = literal(event_model._meta.label)
        newest_parts.append(
            f"(SELECT e.pgh_id, e.pgh_label::text AS label, {label}::text AS model FROM {table} AS e "
            f"WHERE e.{obj} = %s AND e.{col} IS DISTINCT FROM {ref_sql} "
            "ORDER BY e.pgh_id DESC LIMIT 1)"
        )
        newest_params += [obj_pk, *ref_params]
        next_parts.append(
            f"(SELECT n.pgh_id, n.pgh_label::text AS label, {label}::text AS model FROM {table} AS n "
            f"WHERE n.{obj} = %s AND n.pgh_id > d.pgh_id ORDER BY n.pgh_id LIMIT 1)"
        )
        next_params.append(obj_pk)
    sql = (
        f"SELECT {index}, d.pgh_id, d.label, d.model, n.pgh_id, n.label, n.model "
        f"FROM (SELECT * FROM ({' UNION ALL '.join(newest_parts)}) AS d "
        "ORDER BY d.pgh_id DESC LIMIT 1) AS d "
        f"LEFT JOIN LATERAL (SELECT * FROM ({' UNION ALL '.join(next_parts)}) AS n "
        "ORDER BY n.pgh_id LIMIT 1) AS n ON TRUE"
    )
    return sql, newest_params + next_params


def _guarantees_change(event_model: type[Event], label: str, name: str) -> bool:
    """Whether the tracker's condition fires only when field ``name`` changed."""
    tracker = next((t for t in event_model.pgh_trackers if t.label == label), None)
    return _condition_changes(getattr(tracker, "condition", None), name)


def _condition_changes(condition: Any, name: str) -> bool:
    if isinstance(condition, conditions.AnyChange):
        return condition.fields == [name]
    if isinstance(condition, conditions.AllChange):
        return name in condition.fields
    if getattr(condition, "operator", None) == "AND":
        return any(_condition_changes(part, name) for part in condition.parts)
    return False


def _attribute(
    row: tuple[Any, ...] | None, by_label: dict[str, type[Event]], name: str
) -> tuple[str, int | None]:
    """``(status, pgh_id)`` of a field from its row of ``_field_sql`` (``("", None)``: unchanged).

    The row names the newest event recording another value than the current one (``d``) and
    the event after it (``n``), which recorded the current value or the row before itself.
    """
    if row is None:
        return "", None
    _, diff_id, diff_label, diff_model, next_id, next_label, next_model = row
    differing = by_label[diff_model]
    following = by_label[next_model] if next_model else None
    next_before = following is not None and next_label in event_kinds.before_labels(following)
    if diff_label in event_kinds.before_labels(differing) and diff_label not in (
        event_kinds.delete_labels(differing)
    ):
        # The row before this update held another value. The update changed it when its
        # condition says so, or when no later event recorded the row after a change.
        if _guarantees_change(differing, diff_label, name) or next_id is None or next_before:
            return CHANGED, diff_id
        return CHANGED, next_id
    if next_id is None or next_before:
        # Nothing after it, or the next event saw the row before itself already changed.
        return UNRECORDED, None
    return CHANGED, next_id


def blame(obj_or_model: Any, pk_value: Any = None, *, using: str | None = None) -> Blame:
    """Each tracked field's current value and the event that set it.

    ``blame(obj)``, or ``blame(Model, pk)`` (which also works for a deleted object: its values are
    those its last events recorded). Raises ``Model.DoesNotExist`` for an id with neither a row
    nor any event.
    """
    from pghistory_core.models import Events

    model, obj_pk = _resolve(obj_or_model, pk_value)
    using = using or router.db_for_read(model)
    event_models = event_kinds.object_event_models(model)
    by_label = {event_model._meta.label: event_model for event_model in event_models}
    current = model._base_manager.using(using).filter(pk=obj_pk).first()
    ends = _ends(event_models, obj_pk, using) if event_models else {}
    recording = [m for m in event_models if ends.get(m) and ends[m].last is not None]
    if current is None and not recording:
        raise model.DoesNotExist(  # type: ignore[attr-defined]
            f"{model._meta.label} {obj_pk} has neither a row nor any recorded event."
        )
    names = tracked_names(event_models, model)
    per_field: dict[str, list[type[Event]]] = {
        name: [m for m in recording if name in m.pgh_tracked_fields] for name in names
    }
    newest = {
        name: max(models_, key=lambda m: ends[m].last or 0) if models_ else None
        for name, models_ in per_field.items()
    }
    rows: dict[int, tuple[Any, ...]] = {}
    statements = []
    params: list[Any] = []
    for index, name in enumerate(names):
        if not per_field[name]:
            continue
        reference = _reference_sql(model, name, obj_pk, current is not None, newest[name], using)
        sql, field_params = _field_sql(index, name, per_field[name], reference, obj_pk)
        statements.append(f"({sql})")
        params += field_params
    if statements:
        with connections[using].cursor() as cursor:
            cursor.execute(" UNION ALL ".join(statements), params)
            rows = {row[0]: row for row in cursor.fetchall()}

    attributed: dict[str, tuple[str, int | None]] = {}
    for index, name in enumerate(names):
        status, pgh_id = _attribute(rows.get(index), by_label, name)
        if not status:
            firsts = [
                (ends[m].first, ends[m].first_label, m)
                for m in per_field[name]
                if ends[m].first is not None
            ]
            if not firsts:
                attributed[name] = (UNRECORDED, None)
                continue
            first_id, first_label, first_model = min(firsts, key=lambda item: item[0] or 0)
            created = first_label in event_kinds.insert_labels(first_model)
            status, pgh_id = (CREATED if created else TRACKED), first_id
        attributed[name] = (status, pgh_id)

    ids = {pgh_id for _, pgh_id in attributed.values() if pgh_id is not None}
    first_id = min((e.first for e in ends.values() if e.first is not None), default=None)
    last_id = max((e.last for e in ends.values() if e.last is not None), default=None)
    ids |= {i for i in (first_id, last_id) if i is not None}
    events: dict[int, BlameEvent] = {}
    if ids:
        queryset = Events.objects.using(using).across(*recording).tracks(model(pk=obj_pk))
        events = {row.pgh_id: BlameEvent(row) for row in queryset.filter(pgh_id__in=ids)}

    values = _values(model, current, names, newest, ends, using)
    fields = [
        FieldBlame(
            name=name,
            attname=model_field(model, name).attname,
            value=values.get(name),
            status=attributed[name][0],
            event=_event(events, attributed[name][1]),
        )
        for name in names
    ]
    return Blame(
        model=model,
        pk=obj_pk,
        exists=current is not None,
        fields=fields,
        first=events.get(first_id) if first_id is not None else None,
        last=events.get(last_id) if last_id is not None else None,
    )


def _event(events: dict[int, BlameEvent], pgh_id: int | None) -> BlameEvent | None:
    return events.get(pgh_id) if pgh_id is not None else None


def _values(
    model: type[models.Model],
    current: models.Model | None,
    names: list[str],
    newest: dict[str, type[Event] | None],
    ends: dict[type[Event], _Ends],
    using: str,
) -> dict[str, Any]:
    """Current values: the row's, or for a deleted object those of its last events."""
    if current is not None:
        return {name: getattr(current, model_field(model, name).attname) for name in names}
    rows: dict[type[Event], Any] = {}
    values: dict[str, Any] = {}
    for name in names:
        event_model = newest[name]
        if event_model is None:
            continue
        if event_model not in rows:
            rows[event_model] = event_model._base_manager.using(using).get(
                pgh_id=ends[event_model].last or 0
            )
        values[name] = getattr(rows[event_model], model_field(event_model, name).attname)
    return values
