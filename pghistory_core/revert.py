"""Restoring tracked rows from events, and creating manual events."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.db import connections, models, router, transaction

from pghistory_core.constants import CONTEXT_ID_SETTING
from pghistory_core.meta import column, field, pk
from pghistory_core.registry import event_models
from pghistory_core.runtime import context, current
from pghistory_core.sql_builders import quote
from pghistory_core.triggers import Values, insert_sql

if TYPE_CHECKING:
    from pghistory_core.models import Event


class RevertError(RuntimeError, ValueError):
    """An event cannot restore its row. A ``RuntimeError`` as in django-pghistory 3.x (and a
    ``ValueError``, as this project raised first)."""


def missing_fields(event_model: type[Event]) -> list[str]:
    """Fields of the tracked model (but its primary key) that ``event_model`` does not copy."""
    tracked = set(event_model.pgh_tracked_fields)
    return [
        field.name
        for field in event_model.pgh_tracked_model._meta.concrete_fields
        if field.name not in tracked and not field.primary_key
    ]


#: ``save(obj, created)``: writes the reverted object (e.g. through a ``ModelAdmin``).
SaveFunction = Callable[[models.Model, bool], None]


def revert_event(
    event: Event,
    using: str | None = None,
    partial: bool = False,
    *,
    fields: Iterable[str] | None = None,
    save: SaveFunction | None = None,
) -> models.Model:
    """Write ``event``'s tracked values back to its row (recreating it when deleted).

    As in django-pghistory 3.x, an event model that does not copy every field refuses
    (``RuntimeError``) unless ``partial=True`` or ``fields`` is given: then only those fields
    are written back to the existing row. ``fields`` limits the write to these tracked fields
    (names; default: every tracked field); the others keep their current values.
    ``save(obj, created)`` replaces the default ``obj.save()`` (``update_fields`` limited to the
    written fields when the row exists), e.g. to save through a ``ModelAdmin``. The row is locked
    (``SELECT … FOR UPDATE``) from the read to the write. The write is recorded by the triggers
    like any change, with ``reverted_event`` added to the context.
    """
    event_model = type(event)
    tracked_model = event_model.pgh_tracked_model
    if not event_model.pgh_has_obj:
        raise RevertError(
            f"{event_model.__name__} has no pgh_obj: it cannot know which row to revert."
        )
    opts = tracked_model._meta
    tracked = set(event_model.pgh_tracked_fields)
    chosen = None if fields is None else set(fields)
    if chosen is not None and chosen - tracked:
        raise ValueError(
            f"{event_model.__name__} does not track {', '.join(sorted(chosen - tracked))}."
        )
    missing = missing_fields(event_model)
    if missing and not partial and chosen is None:
        raise RevertError(
            f"{event_model.__name__} cannot revert {opts.label}: it does not track "
            f"{', '.join(missing)}. Pass partial=True to write back only the fields it tracks."
        )
    using = using or router.db_for_write(tracked_model)
    obj_id = event.pgh_obj_id  # type: ignore[attr-defined]
    with (
        transaction.atomic(using=using),
        context(reverted_event=f"{event_model._meta.label}:{event.pk}"),
    ):
        obj = tracked_model._base_manager.using(using).select_for_update().filter(pk=obj_id).first()
        created = obj is None
        if created and missing:
            raise RevertError(
                f"Cannot recreate deleted {opts.label} {obj_id}: {event_model.__name__} does not "
                f"track {', '.join(missing)}."
            )
        if obj is None:
            obj = tracked_model(pk=obj_id)
        names = [
            name
            for name in event_model.pgh_tracked_fields
            if not field(tracked_model, name).primary_key and (chosen is None or name in chosen)
        ]
        for name in names:
            setattr(
                obj,
                field(tracked_model, name).attname,
                getattr(event, field(event_model, name).attname),
            )
        if save is not None:
            save(obj, created)
        elif created:
            obj.save(using=using, force_insert=True)
        else:
            obj.save(using=using, update_fields=names)
    return obj


def create_event(obj: models.Model, *, label: str, using: str | None = None) -> Any:
    """Record a manual event holding ``obj``'s current database values.

    ``label`` must be the label of a tracker (usually ``ManualEvent``) of one of the object's
    event models.
    """
    candidates = [
        event_model
        for event_model in event_models()
        if event_model.pgh_tracked_model._meta.concrete_model is obj._meta.concrete_model
        and any(tracker.label == label for tracker in event_model.pgh_trackers)
    ]
    if not candidates:
        raise ValueError(
            f'"{label}" is not a registered tracker label for model {obj.__class__.__name__}. '
            f"Add pghistory_core.ManualEvent({label!r}) to the @track() of {obj._meta.label}."
        )
    if obj.pk is None:
        raise ValueError(f"Save {obj._meta.label} before creating an event for it.")
    event_model = candidates[0]
    using = using or router.db_for_write(event_model)

    row = "_pgh_row"
    pk_sql = quote(column(type(obj), pk(type(obj)).name))
    # Resolve the context the way the triggers do (a Context row only for foreign-key contexts).
    metadata = "pghistory_core_context_json()"
    if event_model.pgh_context_kind == "fk":
        context_id = "pghistory_core_context_id()"
    elif current() is None:
        # As in 3.x, a denormalised context is the open context() block's: none once it has
        # closed, even if its settings last until the end of the transaction.
        context_id, metadata = "NULL::uuid", "NULL::jsonb"
    else:
        context_id = f"NULLIF(current_setting('{CONTEXT_ID_SETTING}', true), '')::uuid"
    insert = insert_sql(
        event_model,
        row,
        f"FROM {quote(obj._meta.db_table)} AS {row}",
        [f"{row}.{pk_sql} = %s"],
        Values(label="%s", context_id=context_id, context_metadata=metadata),
    )
    sql = insert.rstrip(";") + " RETURNING pgh_id"
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [label, obj.pk])
        row_result = cursor.fetchone()
    if row_result is None:
        raise type(obj).DoesNotExist(  # type: ignore[attr-defined]
            f"{obj._meta.label} {obj.pk} is not in the database."
        )
    return event_model._base_manager.using(using).get(pk=row_result[0])
