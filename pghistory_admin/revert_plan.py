"""What a revert may write: the fields the user could change through the ``ModelAdmin``.

A revert is an edit made on the user's behalf, so it obeys what the admin's change form (or add
form, to restore a deleted object) lets that user edit: ``get_form`` (``get_fields``,
``get_fieldsets``, ``get_exclude``) minus ``get_readonly_fields``. Other changed fields keep
their current values and are listed with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.admin import ModelAdmin
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext as _

from pghistory_admin.diffs import FieldChange

__all__ = ["RefusedField", "RevertPlan", "editable_fields", "plan_revert"]


@dataclass(frozen=True)
class RefusedField:
    """A field whose value differs from the event's but that the revert will not write."""

    change: FieldChange
    reason: str
    #: Set by Django itself when saved (``auto_now``): it never blocks a revert or restore.
    automatic: bool = False


@dataclass(frozen=True)
class RevertPlan:
    """The changes a revert writes (``changes``, of tracked fields ``fields``) and those it leaves."""

    changes: list[FieldChange] = field(default_factory=list)
    refused: list[RefusedField] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> list[RefusedField]:
        """Refused fields the user would have had to set (not set automatically)."""
        return [refused for refused in self.refused if not refused.automatic]


def editable_fields(
    model_admin: ModelAdmin[Any], request: HttpRequest, obj: models.Model | None
) -> set[str]:
    """Names of the fields ``request``'s user may edit in the admin's change (or add) form."""
    form_class = model_admin.get_form(request, obj, change=obj is not None)
    readonly = set(model_admin.get_readonly_fields(request, obj))
    return set(form_class.base_fields) - readonly


def plan_revert(
    model_admin: ModelAdmin[Any],
    request: HttpRequest,
    obj: models.Model | None,
    changes: list[FieldChange],
) -> RevertPlan:
    """Split ``changes`` (of the event against the current row) into written and refused."""
    model = model_admin.model
    editable = editable_fields(model_admin, request, obj)
    readonly = set(model_admin.get_readonly_fields(request, obj))
    plan = RevertPlan()
    for change in changes:
        model_field = _field(model, change.name)
        if model_field is not None and model_field.primary_key:
            continue
        if model_field is not None and model_field.name in editable:
            plan.changes.append(change)
            plan.fields.append(model_field.name)
            continue
        automatic = bool(
            getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False)
        )
        plan.refused.append(
            RefusedField(change, _reason(model_field, readonly, automatic), automatic)
        )
    return plan


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any] | None:
    try:
        found = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return found if isinstance(found, models.Field) else None


def _reason(model_field: models.Field[Any, Any] | None, readonly: set[str], automatic: bool) -> str:
    if model_field is None:
        return _("the field no longer exists")
    if automatic:
        return _("set automatically when saved")
    if model_field.name in readonly:
        return _("read-only in this admin")
    if not model_field.editable:
        return _("not editable")
    return _("not in this admin's form for you")
