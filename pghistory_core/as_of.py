"""An object as it was at any moment: ``as_of(obj, when)`` / ``as_of(Model, pk, when)``.

The state at ``when`` is read from the object's events at or before it (ordered by
``pgh_created_at``, then ``pgh_id`` within equal timestamps), each event model on the
``(pgh_obj_id, pgh_id)`` index, so the work is bounded by the object's own events. The result is
an unsaved instance of the tracked model whose ``pgh_as_of`` (an ``AsOfState``) says which
events its values come from; foreign keys to tracked models hold the related objects as they
were at ``when``, to other models the related objects as they are now (marked ``current``).

When the object had no row at ``when``, ``as_of`` raises a subclass of ``AsOfDoesNotExist``
(itself an ``ObjectDoesNotExist``): ``NotYetCreated`` (its insert comes later), ``DeletedAt``
(its delete came earlier) or ``NotRecorded`` (no event at or before ``when``, and the first one is
not an insert: tracking began later, or there is no history at all).

Events are read as what they observe (``event_kinds``): insert, ``row=New`` update and manual
events show the row after them; delete and ``row=Old`` update events the row before them, so the
first such event after ``when`` also shows the row at ``when``.

One concept over 300 lines: the probe's SQL, its reading and the related objects' states
share one set of outcomes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import connections, models, router

from pghistory_core import event_kinds
from pghistory_core.meta import column, pk
from pghistory_core.meta import field as model_field
from pghistory_core.sql_builders import quote

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = [
    "AsOfDoesNotExist",
    "AsOfState",
    "DeletedAt",
    "NotRecorded",
    "NotYetCreated",
    "RelatedAsOf",
    "as_of",
    "as_of_many",
    "related_as_of",
]


class AsOfDoesNotExist(ObjectDoesNotExist):
    """The object had no row at ``when``; ``state`` and ``pgh_id`` say why."""

    #: ``"not_created"``, ``"deleted"`` or ``"not_recorded"``.
    state = ""

    def __init__(
        self,
        message: str,
        *,
        model: type[models.Model],
        pk: Any,
        when: datetime,
        pgh_id: int | None = None,
        pgh_created_at: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.pk = pk
        self.when = when
        #: The event that explains it: the later insert, the earlier delete, the first event.
        self.pgh_id = pgh_id
        self.pgh_created_at = pgh_created_at


class NotYetCreated(AsOfDoesNotExist):
    """The object was created after ``when`` (``pgh_id``: its insert event)."""

    state = "not_created"


class DeletedAt(AsOfDoesNotExist):
    """The object had been deleted at ``when`` (``pgh_id``: its delete event)."""

    state = "deleted"


class NotRecorded(AsOfDoesNotExist):
    """No event tells the object's state at ``when`` (``pgh_id``: its first event, if any)."""

    state = "not_recorded"


@dataclass(frozen=True)
class RelatedAsOf:
    """What a foreign key of an as-of instance pointed at, at ``when``."""

    name: str
    pk: Any
    #: The related object (an as-of instance, or the current row when ``current``), if any.
    obj: models.Model | None
    #: ``"as_of"`` (tracked: as it was), ``"current"`` (not tracked: as it is now), ``"missing"``
    #: (not tracked and gone), or ``AsOfDoesNotExist.state`` of the related object.
    state: str
    #: The exception raised for the related object, when it had no row at ``when``.
    error: AsOfDoesNotExist | None = None


@dataclass
class AsOfState:
    """How an as-of instance was built (its ``pgh_as_of`` attribute)."""

    when: datetime
    #: The newest event of the object at or before ``when``, and when it happened.
    pgh_id: int
    pgh_created_at: datetime
    pgh_label: str
    #: The event of the main event model (the one recording most fields) holding the values at
    #: ``when``: reverting to it restores the object as it was then.
    revert_pgh_id: int | None
    #: ``attname`` -> ``pgh_id`` of the event each value comes from.
    sources: dict[str, int] = field(default_factory=dict)
    #: Fields no event records: they hold the model's defaults.
    unknown: list[str] = field(default_factory=list)
    #: Foreign key name -> what it pointed at (filled when ``related=True``).
    related: dict[str, RelatedAsOf] = field(default_factory=dict)


@dataclass
class _Probe:
    """What one event model knows about one object around ``when``."""

    last: int | None = None  # newest event at or before when
    last_at: datetime | None = None
    last_label: str | None = None
    after_obs: int | None = None  # newest "after" event at or before when
    first_after: int | None = None  # first event after when
    first_after_at: datetime | None = None
    first_after_label: str | None = None

    def source(self, event_model: type[Event]) -> int | None:
        """The event of this model that shows the row at ``when``."""
        if self.after_obs is not None and self.after_obs == self.last:
            return self.after_obs
        if self.first_after is not None and self.first_after_label in event_kinds.before_labels(
            event_model
        ):
            return self.first_after
        return self.after_obs


def _probe_sql(event_model: type[Event], pk_type: str) -> str:
    """Per object: the newest event at or before ``when``, the newest "after" one, the first later.

    Two passes over each object's events on the ``(pgh_obj_id, pgh_id)`` index, both cheap
    aggregates: the times of the three events, then their ``pgh_id`` among the events at those
    times (ties are ordered by ``pgh_id``); then primary key lookups of the events.
    """
    table, obj = quote(event_model._meta.db_table), quote(column(event_model, "pgh_obj"))
    at = quote(column(event_model, "pgh_created_at"))
    after = "NOT (e.pgh_label = ANY(%s::text[]))"
    return (
        f"SELECT o.id, l.pgh_id, l.{at}, l.pgh_label::text, i.a, f.pgh_id, f.{at}, "
        f"f.pgh_label::text FROM unnest(%s::{pk_type}[]) AS o(id) "
        f"CROSS JOIN LATERAL (SELECT max(e.{at}) FILTER (WHERE e.{at} <= %s) AS l, "
        f"max(e.{at}) FILTER (WHERE e.{at} <= %s AND {after}) AS a, "
        f"min(e.{at}) FILTER (WHERE e.{at} > %s) AS f "
        f"FROM {table} AS e WHERE e.{obj} = o.id) AS t "
        f"CROSS JOIN LATERAL (SELECT max(e.pgh_id) FILTER (WHERE e.{at} = t.l) AS l, "
        f"max(e.pgh_id) FILTER (WHERE e.{at} = t.a AND {after}) AS a, "
        f"min(e.pgh_id) FILTER (WHERE e.{at} = t.f) AS f "
        f"FROM {table} AS e WHERE e.{obj} = o.id AND e.{at} IN (t.l, t.a, t.f)) AS i "
        f"LEFT JOIN {table} AS l ON l.pgh_id = i.l "
        f"LEFT JOIN {table} AS f ON f.pgh_id = i.f"
    )


def _probe(
    event_models: Sequence[type[Event]],
    model: type[models.Model],
    pks: list[Any],
    when: datetime,
    using: str,
) -> dict[type[Event], dict[Any, _Probe]]:
    """One statement: for each event model and object, the events around ``when``."""
    connection = connections[using]
    pk_type = pk(model).rel_db_type(connection) or "text"
    parts: list[str] = []
    params: list[Any] = []
    for index, event_model in enumerate(event_models):
        parts.append(f"(SELECT {index}, p.* FROM ({_probe_sql(event_model, pk_type)}) AS p)")
        before = event_kinds.before_labels(event_model)
        params += [pks, when, when, before, when, before]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    result: dict[type[Event], dict[Any, _Probe]] = {m: {} for m in event_models}
    for index, obj_pk, *values in rows:
        result[event_models[index]][obj_pk] = _Probe(*values)
    return result


def _outcome(
    model: type[models.Model],
    obj_pk: Any,
    when: datetime,
    probes: dict[type[Event], _Probe],
) -> AsOfDoesNotExist | tuple[type[Event], _Probe]:
    """The event model holding the newest event at or before ``when``, or why there is none."""
    label = f"{model._meta.label} {obj_pk}"
    known = [(m, p) for m, p in probes.items() if p.last is not None]
    if not known:
        later = [(m, p) for m, p in probes.items() if p.first_after is not None]
        if not later:
            return NotRecorded(f"{label} has no recorded event.", model=model, pk=obj_pk, when=when)
        first_model, first = min(
            later, key=lambda item: (item[1].first_after_at, item[1].first_after)
        )
        if first.first_after_label in event_kinds.insert_labels(first_model):
            return NotYetCreated(
                f"{label} did not exist yet at {when.isoformat()}: it was created at "
                f"{first.first_after_at.isoformat() if first.first_after_at else '?'}.",
                model=model,
                pk=obj_pk,
                when=when,
                pgh_id=first.first_after,
                pgh_created_at=first.first_after_at,
            )
        return NotRecorded(
            f"{label} has no event at or before {when.isoformat()} (its history begins later).",
            model=model,
            pk=obj_pk,
            when=when,
            pgh_id=first.first_after,
            pgh_created_at=first.first_after_at,
        )
    newest_model, newest = max(known, key=lambda item: (item[1].last_at, item[1].last))
    if newest.last_label in event_kinds.delete_labels(newest_model):
        return DeletedAt(
            f"{label} had been deleted at {when.isoformat()} (event #{newest.last}).",
            model=model,
            pk=obj_pk,
            when=when,
            pgh_id=newest.last,
            pgh_created_at=newest.last_at,
        )
    return newest_model, newest


def _sources(
    model: type[models.Model], probes: dict[type[Event], _Probe]
) -> tuple[dict[str, tuple[type[Event], int]], type[Event] | None]:
    """Per field name, the event model and event holding its value; the main event model."""
    ranked = sorted(
        (
            (m, p, source)
            for m, p in probes.items()
            if (source := p.source(m)) is not None and p.last is not None
        ),
        key=lambda item: (item[1].last_at, item[1].last),
        reverse=True,
    )
    sources: dict[str, tuple[type[Event], int]] = {}
    for event_model, _, source in ranked:
        for name in event_model.pgh_tracked_fields:
            sources.setdefault(name, (event_model, source))
    main = max((m for m, _, _ in ranked), key=lambda m: len(m.pgh_tracked_fields), default=None)
    return sources, main


def _check_when(when: Any) -> datetime:
    if not isinstance(when, datetime):
        raise TypeError(f"as_of() needs a datetime, not {when!r}.")
    if when.tzinfo is None or when.utcoffset() is None:
        from django.conf import settings

        if getattr(settings, "USE_TZ", True):
            raise ValueError("as_of() needs an aware datetime (USE_TZ is on).")
    return when


def as_of_many(
    model: type[models.Model],
    pks: Iterable[Any],
    when: datetime,
    *,
    using: str | None = None,
    related: bool = True,
) -> dict[Any, models.Model | AsOfDoesNotExist]:
    """``as_of`` for several objects of one model at once (one probe statement for all).

    Returns ``{pk: instance}``, with the ``AsOfDoesNotExist`` (not raised) for objects that had
    no row at ``when``.
    """
    when = _check_when(when)
    key = pk(model)
    wanted = list(dict.fromkeys(key.to_python(value) for value in pks))
    using = using or router.db_for_read(model)
    event_models = event_kinds.object_event_models(model)
    if not wanted:
        return {}
    if not event_models:
        raise ValueError(f"{model._meta.label} is not tracked by an event model with pgh_obj.")
    probes = _probe(event_models, model, wanted, when, using)
    outcomes = {
        obj_pk: _outcome(model, obj_pk, when, {m: probes[m].get(obj_pk, _Probe()) for m in probes})
        for obj_pk in wanted
    }
    plans: dict[Any, tuple[dict[str, tuple[type[Event], int]], type[Event] | None, _Probe]] = {}
    needed: dict[type[Event], set[int]] = {}
    for obj_pk, outcome in outcomes.items():
        if isinstance(outcome, AsOfDoesNotExist):
            continue
        sources, main = _sources(model, {m: probes[m].get(obj_pk, _Probe()) for m in probes})
        plans[obj_pk] = (sources, main, outcome[1])
        for event_model, pgh_id in sources.values():
            needed.setdefault(event_model, set()).add(pgh_id)
    rows = {
        (event_model, row.pgh_id): row
        for event_model, ids in needed.items()
        for row in event_model._base_manager.using(using).filter(pgh_id__in=ids)
    }
    result: dict[Any, models.Model | AsOfDoesNotExist] = {}
    for obj_pk, outcome in outcomes.items():
        if isinstance(outcome, AsOfDoesNotExist):
            result[obj_pk] = outcome
            continue
        sources, main, newest = plans[obj_pk]
        result[obj_pk] = _build(model, obj_pk, when, sources, main, newest, rows, probes)
    if related:
        _add_related(
            model, [o for o in result.values() if isinstance(o, models.Model)], when, using
        )
    return result


def _build(
    model: type[models.Model],
    obj_pk: Any,
    when: datetime,
    sources: dict[str, tuple[type[Event], int]],
    main: type[Event] | None,
    newest: _Probe,
    rows: dict[tuple[type[Event], int], Any],
    probes: dict[type[Event], dict[Any, _Probe]],
) -> models.Model:
    values: dict[str, Any] = {}
    state = AsOfState(
        when=when,
        pgh_id=newest.last or 0,
        pgh_created_at=newest.last_at or when,
        pgh_label=newest.last_label or "",
        revert_pgh_id=probes[main][obj_pk].source(main) if main is not None else None,
    )
    for model_fld in model._meta.concrete_fields:
        if model_fld.primary_key:
            values[model_fld.attname] = obj_pk
            continue
        source = sources.get(model_fld.name)
        if source is None:
            state.unknown.append(model_fld.name)
            continue
        event_model, pgh_id = source
        values[model_fld.attname] = getattr(
            rows[(event_model, pgh_id)], model_field(event_model, model_fld.name).attname
        )
        state.sources[model_fld.attname] = pgh_id
    instance = model(**values)
    instance.pgh_as_of = state  # type: ignore[attr-defined]
    return instance


def _fk_fields(model: type[models.Model]) -> list[models.ForeignKey[Any, Any]]:
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, models.ForeignKey) and f.related_model is not None
    ]


def _add_related(
    model: type[models.Model], instances: list[models.Model], when: datetime, using: str
) -> None:
    """Cache each foreign key's target as of ``when`` (tracked) or as it is now (not tracked)."""
    for fk in _fk_fields(model):
        target = fk.related_model
        if not isinstance(target, type) or fk.remote_field.field_name != (pk(target).name):
            continue  # to_field other than the primary key: left to the ORM
        ids = [getattr(i, fk.attname) for i in instances if getattr(i, fk.attname) is not None]
        if event_kinds.object_event_models(target):
            found: dict[Any, Any] = as_of_many(target, ids, when, using=using, related=False)
        else:
            current = target._base_manager.using(using).in_bulk(set(ids))
            found = dict(current)
        for instance in instances:
            value = getattr(instance, fk.attname)
            state: AsOfState = instance.pgh_as_of  # type: ignore[attr-defined]
            if value is None:
                continue
            obj = found.get(pk(target).to_python(value))
            if isinstance(obj, AsOfDoesNotExist):
                state.related[fk.name] = RelatedAsOf(fk.name, value, None, obj.state, obj)
            elif obj is None:
                state.related[fk.name] = RelatedAsOf(fk.name, value, None, "missing")
            else:
                tracked = hasattr(obj, "pgh_as_of")
                state.related[fk.name] = RelatedAsOf(
                    fk.name, value, obj, "as_of" if tracked else "current"
                )
                fk.set_cached_value(instance, obj)


def as_of(
    obj_or_model: Any,
    pk_or_when: Any,
    when: datetime | None = None,
    *,
    using: str | None = None,
    related: bool = True,
) -> models.Model:
    """The object as it was at ``when``: ``as_of(obj, when)`` or ``as_of(Model, pk, when)``.

    Returns an unsaved instance with ``pgh_as_of`` (``AsOfState``); raises ``NotYetCreated``,
    ``DeletedAt`` or ``NotRecorded`` (all ``AsOfDoesNotExist``) when it had no row then.
    ``related=False`` skips loading foreign key targets.
    """
    if isinstance(obj_or_model, models.Model):
        if when is not None:
            raise TypeError("as_of(obj, when) or as_of(Model, pk, when).")
        model, obj_pk, moment = type(obj_or_model), obj_or_model.pk, pk_or_when
        if obj_pk is None:
            raise ValueError(f"Save {model._meta.label} before asking for its history.")
    elif isinstance(obj_or_model, type) and issubclass(obj_or_model, models.Model):
        if when is None:
            raise TypeError("as_of(Model, pk, when) needs the moment as well.")
        model, obj_pk, moment = obj_or_model, pk_or_when, when
    else:
        raise TypeError(f"Expected a model instance or a model class, not {obj_or_model!r}.")
    obj_pk = pk(model).to_python(obj_pk)
    result = as_of_many(model, [obj_pk], moment, using=using, related=related)[obj_pk]
    if isinstance(result, AsOfDoesNotExist):
        raise result
    return result


def related_as_of(
    obj: models.Model,
    related_model: type[models.Model],
    fk_name: str,
    *,
    using: str | None = None,
) -> list[models.Model]:
    """Rows of ``related_model`` whose ``fk_name`` pointed at as-of instance ``obj`` at its moment.

    For an order's lines as they were: candidates are the rows pointing at it now (the foreign
    key's index on the table) and rows whose events since the moment point at it (rows deleted or
    moved away since: their delete or ``row=Old`` events record the old value; the event tables'
    ``pgh_created_at`` BRIN index keeps this to the events since then). Each candidate is then
    read as of the moment and kept when it pointed at ``obj`` then. A row moved away from ``obj``
    by a ``row=New`` update only is not found.
    """
    state: AsOfState = obj.pgh_as_of  # type: ignore[attr-defined]
    when = state.when
    fk = related_model._meta.get_field(fk_name)
    if not isinstance(fk, models.ForeignKey):
        raise ValueError(f"{related_model._meta.label}.{fk_name} is not a foreign key.")
    using = using or router.db_for_read(related_model)
    candidates = set(
        related_model._base_manager.using(using)
        .filter(**{fk.attname: obj.pk})
        .values_list("pk", flat=True)
    )
    for event_model in event_kinds.object_event_models(related_model):
        if fk.name not in event_model.pgh_tracked_fields:
            continue
        candidates |= set(
            event_model._base_manager.using(using)
            .filter(**{fk.attname: obj.pk, "pgh_created_at__gt": when})
            .values_list("pgh_obj_id", flat=True)  # type: ignore[misc]
        )
    found = as_of_many(related_model, sorted(candidates), when, using=using, related=True)
    return [
        instance
        for _, instance in sorted(found.items(), key=lambda item: item[0])
        if isinstance(instance, models.Model) and getattr(instance, fk.attname) == obj.pk
    ]
