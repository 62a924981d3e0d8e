"""Field blame: for each tracked field of one object, the event that set its current value.

``blame(obj)`` (or ``blame(Model, pk)``, also for a deleted object's id) answers "who set this
price?" without reading a timeline. The work is bounded by the object's own events: one pass of
aggregates over them (on the ``(pgh_obj_id, pgh_id)`` index) finds, for every field at once, the
newest event whose value differs from the current one; a second pass over the events after it
finds the event that followed, which is the one that set the current value.

Events are read as what they observe (``event_kinds``): an insert, a ``row=New`` update or a
manual event shows the row after it, a delete or a ``row=Old`` update the row before it. With
several event models on one model (one tracking a subset of the fields, say) each field is
read from the models that track it.

One concept over 300 lines: the two SQL passes and the reading of their result depend on
each other's column layout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connections, models, router
from django.db.models.expressions import RawSQL

from pghistory_core import conditions, event_kinds
from pghistory_core.meta import column, pk
from pghistory_core.meta import field as model_field
from pghistory_core.sql_builders import quote

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
class _Scan:
    """What one pass over one event model's events of the object found."""

    first: int | None = None
    last: int | None = None
    #: Field name -> the newest event recording another value than the current one.
    differing: dict[str, int] = field(default_factory=dict)
    #: Field name -> the first event after ``differing``.
    following: dict[str, int] = field(default_factory=dict)


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


def _table(event_model: type[Event]) -> tuple[str, str]:
    return quote(event_model._meta.db_table), quote(column(event_model, "pgh_obj"))


def _fields_of(event_model: type[Event], names: list[str]) -> list[str]:
    return [n for n in names if n in event_model.pgh_tracked_fields]


_REF = "_pgh_ref"
#: The annotation carrying the scan on the current row (``blame`` of an existing object).
_SCAN = "_pgh_blame_scan"


def _current_row_sql(
    model: type[models.Model], names: list[str], obj_pk: Any, using: str
) -> tuple[str, list[Any]]:
    """``_pgh_ref AS (…)``: the row's current values (the ORM writes it, so inherited fields
    are joined in), column ``_pgh_<i>`` for ``names[i]``."""
    aliases = {f"_pgh_{index}": models.F(name) for index, name in enumerate(names)}
    queryset = model._base_manager.using(using).filter(pk=obj_pk).values(**aliases)
    sql, params = queryset.query.get_compiler(using).as_sql()
    return f"{_REF} AS ({sql})", list(params)


def _last_values_sql(
    event_models: list[type[Event]], names: list[str], obj_pk: Any
) -> tuple[str, list[Any]]:
    """``_pgh_last AS (…), _pgh_ref AS (…)``: a deleted object's values, each field's from the
    newest event of the models recording it (their last ids are index-only lookups)."""
    lasts, params = [], []
    for index, event_model in enumerate(event_models):
        table, obj = _table(event_model)
        lasts.append(f"(SELECT max(x.pgh_id) FROM {table} AS x WHERE x.{obj} = %s) AS l{index}")
        params.append(obj_pk)
    values = []
    for position, name in enumerate(names):
        branches = [
            f"SELECT l.l{index} AS id, (SELECT r.{quote(column(event_model, name))} "
            f"FROM {quote(event_model._meta.db_table)} AS r WHERE r.pgh_id = l.l{index}) AS v "
            "FROM _pgh_last AS l"
            for index, event_model in enumerate(event_models)
            if name in event_model.pgh_tracked_fields
        ]
        values.append(
            f"(SELECT u.v FROM ({' UNION ALL '.join(branches)}) AS u "
            f"ORDER BY u.id DESC NULLS LAST LIMIT 1) AS _pgh_{position}"
        )
    return (
        f"_pgh_last AS (SELECT {', '.join(lasts)}), {_REF} AS (SELECT {', '.join(values)})",
        params,
    )


def _scan_sql(
    event_models: list[type[Event]], names: list[str], obj_pk: Any, ref: tuple[str, list[Any]]
) -> tuple[str, list[Any]]:
    """One statement over every event model of the object, a JSON array of ``bigint``.

    Per model: its first and last event and, for each field it records, the newest event
    holding another value than ``_pgh_ref``'s (one pass of aggregates over the object's events,
    on the ``(pgh_obj_id, pgh_id)`` index; each reference value is an InitPlan, computed once).
    Then, per model and field, its first event after the newest differing one of all models:
    an index-only ``min()`` each. No ``ORDER BY … LIMIT`` over the events: with one, the planner
    may walk the primary key newest first and filter on the object, which crosses the whole
    table when a field never changed.
    """
    ctes, params = [ref[0]], list(ref[1])
    heads: list[str] = []
    followers: list[str] = []
    follower_params: list[Any] = []
    for index, event_model in enumerate(event_models):
        table, obj = _table(event_model)
        columns = ["min(e.pgh_id) AS f", "max(e.pgh_id) AS l"]
        heads += [f"s{index}.f", f"s{index}.l"]
        for name in _fields_of(event_model, names):
            position = names.index(name)
            columns.append(
                f"max(e.pgh_id) FILTER (WHERE e.{quote(column(event_model, name))} IS DISTINCT "
                f"FROM (SELECT r._pgh_{position} FROM {_REF} AS r)) AS d{position}"
            )
            heads.append(f"s{index}.d{position}")
            wanted = ", ".join(
                f"s{other}.d{position}"
                for other, other_model in enumerate(event_models)
                if name in other_model.pgh_tracked_fields
            )
            # Both bounds are conditions of the (pgh_obj_id, pgh_id) index: one descent. (On a
            # near-empty table the planner may take the primary key's range instead, as cheap.)
            followers.append(
                f"(SELECT min(e.pgh_id) FROM {table} AS e WHERE e.{obj} = %s "
                f"AND e.pgh_id > GREATEST({wanted}))"
            )
            follower_params.append(obj_pk)
        ctes.append(
            f"_pgh_s{index} AS (SELECT {', '.join(columns)} FROM {table} AS e WHERE e.{obj} = %s)"
        )
        params.append(obj_pk)
    sources = ", ".join(f"_pgh_s{index} AS s{index}" for index in range(len(event_models)))
    sql = (
        f"WITH {', '.join(ctes)} SELECT to_jsonb(ARRAY[{', '.join(heads + followers)}]::bigint[]) "
        f"FROM {sources}"
    )
    return sql, params + follower_params


def _parse_scan(
    event_models: list[type[Event]], names: list[str], value: Any
) -> dict[type[Event], _Scan]:
    """The statement's array read back per event model (models without events left out)."""
    ids = iter(json.loads(value) if isinstance(value, str | bytes) else value)
    heads = [
        (event_model, next(ids), next(ids), {n: next(ids) for n in _fields_of(event_model, names)})
        for event_model in event_models
    ]
    scans: dict[type[Event], _Scan] = {}
    for event_model, first, last, differing in heads:
        following = {n: next(ids) for n in _fields_of(event_model, names)}
        if last is None:
            continue
        scans[event_model] = _Scan(
            first=first,
            last=last,
            differing={n: i for n, i in differing.items() if i is not None},
            following={n: i for n, i in following.items() if i is not None},
        )
    return scans


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
    name: str,
    differing: tuple[type[Event], int] | None,
    following: tuple[type[Event], int] | None,
    labels: dict[int, str],
) -> tuple[str, int | None]:
    """``(status, pgh_id)`` of a field (``("", None)``: unchanged since the first event).

    ``differing`` is the newest event recording another value than the current one,
    ``following`` the first event after it (of a model recording the field), which recorded the
    current value or the row before itself.
    """
    if differing is None:
        return "", None
    diff_model, diff_id = differing
    diff_label = labels.get(diff_id, "")
    next_id = following[1] if following else None
    next_before = following is not None and labels.get(following[1], "") in (
        event_kinds.before_labels(following[0])
    )
    if diff_label in event_kinds.before_labels(diff_model) and diff_label not in (
        event_kinds.delete_labels(diff_model)
    ):
        # The row before this update held another value. The update changed it when its
        # condition says so, or when no later event recorded the row after a change.
        if _guarantees_change(diff_model, diff_label, name) or next_id is None or next_before:
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
    names = tracked_names(event_models, model)
    current, scans = _read(model, event_models, names, obj_pk, using)
    if current is None and not scans:
        raise model.DoesNotExist(  # type: ignore[attr-defined]
            f"{model._meta.label} {obj_pk} has neither a row nor any recorded event."
        )
    per_field = {name: [m for m in scans if name in m.pgh_tracked_fields] for name in names}
    differing: dict[str, tuple[type[Event], int]] = {}
    following: dict[str, tuple[type[Event], int]] = {}
    for name, models_ in per_field.items():
        found = [(m, scans[m].differing[name]) for m in models_ if name in scans[m].differing]
        if found:
            differing[name] = max(found, key=lambda item: item[1])
        after = [(m, scans[m].following[name]) for m in models_ if name in scans[m].following]
        if after:
            following[name] = min(after, key=lambda item: item[1])

    first_id = min((s.first for s in scans.values() if s.first is not None), default=None)
    last_id = max((s.last for s in scans.values() if s.last is not None), default=None)
    ids = {pgh_id for _, pgh_id in [*differing.values(), *following.values()]}
    ids |= {s.first for s in scans.values() if s.first is not None}
    ids |= {i for i in (first_id, last_id) if i is not None}
    events: dict[int, BlameEvent] = {}
    if ids:
        queryset = Events.objects.using(using).by_attname().across(*scans).tracks(model(pk=obj_pk))
        events = {row.pgh_id: BlameEvent(row) for row in queryset.filter(pgh_id__in=ids)}
    labels = {pgh_id: event.pgh_label for pgh_id, event in events.items()}

    attributed: dict[str, tuple[str, int | None]] = {}
    for name in names:
        status, pgh_id = _attribute(name, differing.get(name), following.get(name), labels)
        if not status:
            firsts = [(scans[m].first, m) for m in per_field[name] if scans[m].first is not None]
            if not firsts:
                attributed[name] = (UNRECORDED, None)
                continue
            first, first_model = min(firsts, key=lambda item: item[0] or 0)
            created = labels.get(first or 0) in event_kinds.insert_labels(first_model)
            status, pgh_id = (CREATED if created else TRACKED), first
        attributed[name] = (status, pgh_id)

    values = _values(model, current, names, scans, using)
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
        first=_event(events, first_id),
        last=_event(events, last_id),
    )


def _read(
    model: type[models.Model],
    event_models: list[type[Event]],
    names: list[str],
    obj_pk: Any,
    using: str,
) -> tuple[models.Model | None, dict[type[Event], _Scan]]:
    """The current row (``None`` once deleted) and the scan of the object's events.

    An existing object costs one statement: the scan rides on the row's query as an annotation.
    """
    queryset = model._base_manager.using(using).filter(pk=obj_pk)
    if not event_models:
        return queryset.first(), {}
    ref = _current_row_sql(model, names, obj_pk, using)
    sql, params = _scan_sql(event_models, names, obj_pk, ref)
    # Identifiers are quoted, every value is a parameter.
    scan = RawSQL(f"({sql})", params, output_field=models.JSONField())  # noqa: S611
    current = queryset.annotate(**{_SCAN: scan}).first()
    if current is not None:
        return current, _parse_scan(event_models, names, getattr(current, _SCAN))
    sql, params = _scan_sql(
        event_models, names, obj_pk, _last_values_sql(event_models, names, obj_pk)
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        value = cursor.fetchone()[0]
    return None, _parse_scan(event_models, names, value)


def _event(events: dict[int, BlameEvent], pgh_id: int | None) -> BlameEvent | None:
    return events.get(pgh_id) if pgh_id is not None else None


def _values(
    model: type[models.Model],
    current: models.Model | None,
    names: list[str],
    scans: dict[type[Event], _Scan],
    using: str,
) -> dict[str, Any]:
    """Current values: the row's, or for a deleted object those of its last events."""
    if current is not None:
        return {name: getattr(current, model_field(model, name).attname) for name in names}
    newest = sorted(scans, key=lambda m: scans[m].last or 0, reverse=True)
    rows = {
        m: m._base_manager.using(using).get(pgh_id=scans[m].last or 0)
        for m in newest
        if any(name in m.pgh_tracked_fields for name in names)
    }
    values: dict[str, Any] = {}
    for event_model in newest:
        for name in names:
            if name in event_model.pgh_tracked_fields and name not in values:
                values[name] = getattr(rows[event_model], model_field(event_model, name).attname)
    return values
