"""Foreign keys in diffs shown by their target's label: fetched in bulk, per target model.

A page of events costs one query per target model (``prefetch_fk_labels``); a target that is
gone is named after its last recorded values (``DeletedLabel``), and a target of a model the
viewer may not see is never looked up (``MayView``): its raw id shows instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeGuard

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.fields.related import RelatedField

from pghistory_admin.labels import last_labels

__all__ = [
    "DeletedLabel",
    "FkLabels",
    "MayView",
    "complete_fk_labels",
    "fields_by_attname",
    "fk_key",
    "fk_target",
    "is_fk",
    "may_label",
    "prefetch_fk_labels",
]

#: ``{(target model, target attname): {str(value): label, or None when the row is gone}}``.
FkLabels = dict[tuple[type[models.Model], str], dict[str, str | None]]
Target = tuple[type[models.Model], str]
#: Whether the viewer may see rows of a model: the labels of foreign keys to any other model are
#: never fetched, the raw id shows instead (``None``: every model).
MayView = Callable[[type[models.Model]], bool] | None


def prefetch_fk_labels(
    tracked_model: type[models.Model],
    rows: Iterable[tuple[dict[str, Any] | None, dict[str, Any]]],
    using: str | None = None,
    may_view: MayView = None,
) -> FkLabels:
    """Labels of every foreign key target in ``(diff, data)`` rows: one query per target model.

    Targets of models ``may_view`` refuses are left out.
    """
    wanted: dict[Target, set[str]] = {}
    for diff, data in rows:
        for field, value in _fk_values(tracked_model, diff, data, may_view):
            wanted.setdefault(fk_target(field), set()).add(fk_key(field, value))
    return {target: _fetch_labels(target, keys, using) for target, keys in wanted.items()}


def complete_fk_labels(
    tracked_model: type[models.Model],
    diff: dict[str, Any] | None,
    data: dict[str, Any],
    known: FkLabels,
    using: str | None,
    may_view: MayView,
) -> FkLabels:
    """``known`` plus the labels of this event's targets it lacks (the caller's dict is kept)."""
    missing: dict[Target, set[str]] = {}
    for field, value in _fk_values(tracked_model, diff, data, may_view):
        target, key = fk_target(field), fk_key(field, value)
        if key not in known.get(target, {}):
            missing.setdefault(target, set()).add(key)
    if not missing:
        return known
    labels = {target: dict(values) for target, values in known.items()}
    for target, keys in missing.items():
        labels.setdefault(target, {}).update(_fetch_labels(target, keys, using))
    return labels


def _fk_values(
    tracked_model: type[models.Model],
    diff: dict[str, Any] | None,
    data: dict[str, Any],
    may_view: MayView,
) -> Iterator[tuple[RelatedField[Any, Any], Any]]:
    """Foreign key fields to viewable models and the non-null ids a row shows for them."""
    for attname, field in fields_by_attname(tracked_model).items():
        if not is_fk(field) or not may_label(field, may_view):
            continue
        if diff is None:
            values = [data.get(attname)]
        else:
            values = list(diff.get(attname) or [])
        yield from ((field, value) for value in values if value is not None)


class DeletedLabel(str):
    """The label of a foreign key's target that no longer exists, from its recorded history."""

    __slots__ = ()


def _fetch_labels(target: Target, keys: set[str], using: str | None) -> dict[str, str | None]:
    """``str()`` of the target rows with these keys; for keys no row has any more, the
    ``DeletedLabel`` of their last recorded values (a tracked target) or ``None``."""
    model, attname = target
    field = next(field for field in model._meta.concrete_fields if field.attname == attname)
    labels: dict[str, str | None] = dict.fromkeys(keys)
    values = []
    for key in keys:
        try:
            values.append(field.to_python(key))
        except ValidationError:
            continue  # not an id the target could have: shown as deleted
    rows = model._base_manager.db_manager(using).filter(**{f"{attname}__in": values})
    for obj in rows:
        labels[str(getattr(obj, attname))] = str(obj)
    gone = [value for value in values if labels.get(str(value)) is None]
    if gone and field.primary_key:
        # One more query, only for targets that are gone: their names as last recorded.
        for pk, label in last_labels(model, gone, using=using).items():
            labels[str(pk)] = DeletedLabel(label)
    return labels


def fields_by_attname(tracked_model: type[models.Model]) -> dict[str, models.Field[Any, Any]]:
    return {field.attname: field for field in tracked_model._meta.concrete_fields}


def is_fk(field: models.Field[Any, Any]) -> TypeGuard[RelatedField[Any, Any]]:
    """Whether ``field`` is a foreign key (or one-to-one): a column holding a target's id."""
    return isinstance(field, RelatedField) and bool(field.many_to_one or field.one_to_one)


def may_label(field: RelatedField[Any, Any], may_view: MayView) -> bool:
    """Whether the target of foreign key ``field`` may be shown by its label."""
    return may_view is None or bool(may_view(fk_target(field)[0]))


def fk_target(field: RelatedField[Any, Any]) -> Target:
    """The model and attribute name of the field a foreign key points at."""
    target_field = field.target_field
    return target_field.model, target_field.attname


def fk_key(field: RelatedField[Any, Any], value: Any) -> str:
    """The id as the target's own field spells it, so JSON ``"3"`` and ``3`` agree."""
    try:
        return str(field.target_field.to_python(value))
    except ValidationError:
        return str(value)
