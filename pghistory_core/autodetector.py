"""``makemigrations``: renaming a tracked field renames its copy in the event models too.

An event model's copy of a field names its column explicitly (``db_column``, the tracked
column). When the tracked field is renamed, Django's autodetector asks "Was item.name renamed to
item.title?" for the tracked model only: for the event model it sees a column removed and another
added, and the migration would drop that field's history (after asking for a one-off default
for the old rows). Here a rename confirmed for a tracked model is carried over to the copies.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import makemigrations, migrate

from pghistory_core.registry import event_models


class EventFieldRenameMixin:
    """Mixed into Django's ``MigrationAutodetector`` (alongside django-pgtrigger's mixin)."""

    renamed_fields: dict[tuple[str, str, str], str]
    renamed_operations: list[tuple[Any, ...]]
    old_field_keys: set[tuple[str, str, str]]
    new_field_keys: set[tuple[str, str, str]]
    from_state: Any
    to_state: Any

    def create_renamed_fields(self) -> None:
        super().create_renamed_fields()  # type: ignore[misc]
        for (app_label, model_name, new_name), old_name in list(self.renamed_fields.items()):
            for event_model in event_models():
                tracked = event_model.pgh_tracked_model._meta
                if (tracked.app_label, tracked.model_name) == (app_label, model_name):
                    self._rename_copy(event_model._meta, old_name, new_name)

    def _rename_copy(self, opts: Any, old_name: str, new_name: str) -> None:
        app_label, model_name = opts.app_label, opts.model_name
        old_key = (app_label, model_name, old_name)
        new_key = (app_label, model_name, new_name)
        renamed_from = {(app, model, old) for (app, model, _), old in self.renamed_fields.items()}
        if (
            old_key not in self.old_field_keys - self.new_field_keys
            or new_key not in self.new_field_keys - self.old_field_keys
            # Django found this rename itself: the copy kept its column (a db_column).
            or new_key in self.renamed_fields
            or old_key in renamed_from
        ):
            return
        old_field = self.from_state.models[app_label, model_name].get_field(old_name)
        new_field = self.to_state.models[app_label, model_name].get_field(new_name)
        old_dec = self.deep_deconstruct(old_field)  # type: ignore[attr-defined]
        new_dec = self.deep_deconstruct(new_field)  # type: ignore[attr-defined]
        # The same field but for its column: otherwise the type changed as well, and Django's
        # remove + add is what it is.
        if (
            old_dec[:2] != new_dec[:2]
            or dict(old_dec[2], db_column=new_field.db_column) != (new_dec[2])
        ):
            return
        # The tuple generate_renamed_fields() expects: it alters the column to the new
        # db_column (renaming it, with its data), then renames the field.
        source = (app_label, model_name, old_field.db_column, old_name)
        self.renamed_operations.append((*source, app_label, model_name, new_field, new_name))
        self.renamed_fields[new_key] = old_name


def install() -> None:
    """Use the mixin in ``makemigrations`` and ``migrate`` (done once, from ``AppConfig.ready``).

    The module-level ``MigrationAutodetector`` is replaced too, so that django-pgtrigger, which
    wraps that name when its app is readied after this one, keeps the mixin.
    """
    # One class per base: Django's check commands.E001 wants both commands to use the same one.
    patched: dict[type, type] = {}
    for command in (makemigrations, migrate):
        current = command.Command.autodetector
        if not issubclass(current, EventFieldRenameMixin):
            if current not in patched:
                patched[current] = type(
                    "MigrationAutodetector", (EventFieldRenameMixin, current), {}
                )
            command.Command.autodetector = patched[current]
            command.MigrationAutodetector = patched[current]  # type: ignore[attr-defined]
