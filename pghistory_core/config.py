"""Settings, read when used (never at import) so ``override_settings`` works everywhere.

One module over 300 lines on purpose: it is django-pghistory 3.x's ``pghistory.config``, one
reader per ``PGHISTORY_*`` setting, each short, so a reader finds every setting in one place."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, cast

import pgtrigger
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.module_loading import import_string

# The names and configuration classes are importable from here as from django-pghistory 3.x's
# ``pghistory.config``; neither module imports anything of ours.
from pghistory_core.constants import (
    CONTEXT_ID_SETTING,
    CONTEXT_METADATA_SETTING,
    DJANGO_SESSION_SETTING,
    EVENT_ID_SEQUENCE,
    KEY_CHANGE_TABLE,
)
from pghistory_core.fields import (
    ContextForeignKey,
    ContextJSONField,
    ContextUUIDField,
    Field,
    ForeignKey,
    ObjForeignKey,
    RelatedField,
)

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet

    from pghistory_core.trackers import Tracker


#: Key, query-parameter and option names (``fnmatch`` patterns) whose values are stored masked.
DEFAULT_SECRET_NAMES: tuple[str, ...] = (
    "*password*",
    "*passwd*",
    "*secret*",
    "*token*",
    "*api_key*",
    "*apikey*",
    "*signature*",
    "*credential*",
    "*private_key*",
)
#: URL path patterns (regular expressions) whose groups are stored masked: Django's password
#: reset confirmation (``reset/<uidb64>/<token>/``).
DEFAULT_SECRET_PATHS: tuple[str, ...] = (r"/reset/[^/?#]+/([^/?#]+)",)


def _get(name: str, default: Any) -> Any:
    return getattr(settings, f"PGHISTORY_{name}", default)


def default_trackers() -> list[Tracker] | None:
    """``PGHISTORY_DEFAULT_TRACKERS``: trackers used by ``track()`` without arguments.

    Copied for each model (as django-pghistory 3.x does): trackers keep per-model state.
    """
    value = _get("DEFAULT_TRACKERS", None)
    return copy.deepcopy(list(value)) if value else None


def base_model() -> type:
    """``PGHISTORY_BASE_MODEL``: the abstract base class of generated event models
    (``pghistory_core.models.Event``)."""
    value = _get("BASE_MODEL", "pghistory_core.models.Event")
    return import_string(value) if isinstance(value, str) else value


def created_at_function() -> str:
    """``PGHISTORY_CREATED_AT_FUNCTION``: SQL that stamps ``pgh_created_at`` in triggers."""
    return _get("CREATED_AT_FUNCTION", "NOW()")


def append_only() -> bool:
    """``PGHISTORY_APPEND_ONLY``: protect event tables against UPDATE and DELETE."""
    return bool(_get("APPEND_ONLY", False))


def hash_chain() -> bool:
    """``PGHISTORY_HASH_CHAIN``: chain the events of each table by SHA-256 (tamper evidence)."""
    return bool(_get("HASH_CHAIN", False))


def level() -> pgtrigger.Level:
    """``PGHISTORY_LEVEL``: ``pgtrigger.Statement`` (default, set-based) or ``pgtrigger.Row``."""
    return _get("LEVEL", pgtrigger.Statement)


def json_encoder() -> type[DjangoJSONEncoder]:
    """``PGHISTORY_JSON_ENCODER``: encoder for context metadata."""
    value = _get("JSON_ENCODER", DjangoJSONEncoder)
    return import_string(value) if isinstance(value, str) else value


def middleware_methods() -> tuple[str, ...]:
    """``PGHISTORY_MIDDLEWARE_METHODS``: HTTP methods the middleware opens a context for."""
    return tuple(_get("MIDDLEWARE_METHODS", ("GET", "POST", "PUT", "PATCH", "DELETE")))


def track_commands() -> bool:
    """``PGHISTORY_TRACK_COMMANDS``: wrap management commands run from the CLI in a context."""
    return bool(_get("TRACK_COMMANDS", True))


def ignored_commands() -> tuple[str, ...]:
    """``PGHISTORY_IGNORED_COMMANDS``: long-running commands that must not share one context."""
    return tuple(
        _get(
            "IGNORED_COMMANDS",
            ("runserver", "testserver", "shell", "dbshell", "runserver_plus", "shell_plus"),
        )
    )


def field() -> Field:
    """``PGHISTORY_FIELD``: how tracked fields are copied onto event models."""
    return _get("FIELD", Field())


def related_field() -> RelatedField:
    """``PGHISTORY_RELATED_FIELD``: how tracked relations are copied."""
    return _get("RELATED_FIELD", RelatedField())


def foreign_key_field() -> ForeignKey:
    """``PGHISTORY_FOREIGN_KEY_FIELD``: how tracked foreign keys are copied (unconstrained)."""
    return _get("FOREIGN_KEY_FIELD", ForeignKey())


def obj_field() -> ObjForeignKey:
    """``PGHISTORY_OBJ_FIELD``: the ``pgh_obj`` field pointing at the tracked row."""
    return _get("OBJ_FIELD", ObjForeignKey())


def context_field() -> ContextForeignKey | ContextJSONField:
    """``PGHISTORY_CONTEXT_FIELD``: ``ContextForeignKey()`` (default) or ``ContextJSONField()``."""
    return _get("CONTEXT_FIELD", ContextForeignKey())


def context_id_field() -> ContextUUIDField | None:
    """``PGHISTORY_CONTEXT_ID_FIELD``: with a JSON context, also store the context id
    (``ContextUUIDField()`` by default, as in django-pghistory 3.x; ``None`` to leave it out)."""
    return _get("CONTEXT_ID_FIELD", ContextUUIDField())


def exclude_field_kwargs() -> dict[type, list[str]]:
    """``PGHISTORY_EXCLUDE_FIELD_KWARGS``: keyword arguments left out when a field of a class
    is copied onto an event model, e.g. ``{"myapp.fields.MoneyField": ["unique"]}`` (classes
    or dotted paths). ``primary_key`` of file fields is always left out."""
    value = _get("EXCLUDE_FIELD_KWARGS", {})
    if not isinstance(value, dict):
        raise ImproperlyConfigured(
            "PGHISTORY_EXCLUDE_FIELD_KWARGS must map field classes to lists of argument names."
        )
    result: dict[type, list[str]] = {}
    for key, names in value.items():
        if not isinstance(names, list | tuple):
            raise ImproperlyConfigured(
                f"PGHISTORY_EXCLUDE_FIELD_KWARGS[{key!r}] must be a list of argument names."
            )
        result[import_string(key) if isinstance(key, str) else key] = list(names)
    return result


def install_context_func_on_migrate() -> bool:
    """``PGHISTORY_INSTALL_CONTEXT_FUNC_ON_MIGRATE``: (re)create the context functions after
    every ``migrate``, for test suites that create tables without running migrations."""
    return bool(_get("INSTALL_CONTEXT_FUNC_ON_MIGRATE", False))


def attribute_outside_writes() -> bool:
    """``PGHISTORY_ATTRIBUTE_OUTSIDE_WRITES``: a write made without an open context (``psql``,
    another service, a cron job) records its database session as its context: login role,
    ``application_name`` and client address (``True`` by default). Baked into the context
    functions: ``migrate`` applies a change."""
    return bool(_get("ATTRIBUTE_OUTSIDE_WRITES", True))


def attribute_client_addr() -> bool:
    """``PGHISTORY_ATTRIBUTE_CLIENT_ADDR``: include the client's IP address in that attribution
    (``True`` by default; ``False`` where an address counts as personal data). Baked into the
    context functions: ``migrate`` applies a change."""
    return bool(_get("ATTRIBUTE_CLIENT_ADDR", True))


def secret_names() -> tuple[str, ...]:
    """``PGHISTORY_SECRET_NAMES``: names whose values are masked before a context is stored.

    ``fnmatch`` patterns, matched case-insensitively against context metadata keys, URL query
    parameter names and command-line option names (``--api-token`` as ``api_token``). Setting it
    replaces ``DEFAULT_SECRET_NAMES``; extend that tuple to keep them.
    """
    return tuple(_get("SECRET_NAMES", DEFAULT_SECRET_NAMES))


def secret_paths() -> tuple[str, ...]:
    """``PGHISTORY_SECRET_PATHS``: regular expressions over URL paths; their groups are masked.

    A pattern without groups masks its whole match. Setting it replaces ``DEFAULT_SECRET_PATHS``.
    """
    return tuple(_get("SECRET_PATHS", DEFAULT_SECRET_PATHS))


# The events admin of django-pghistory 3.x (the ``pghistory_core.admin`` app). These names do
# not collide with pghistory_admin's own ``PGHISTORY_ADMIN_*`` settings.


def _model_label(label: str) -> str:
    """3.x's ``"pghistory.Events"`` names ``"pghistory_core.Events"`` after the rename."""
    app_label, _, model_name = label.partition(".")
    return f"pghistory_core.{model_name}" if app_label == "pghistory" else label


def admin_ordering() -> list[str]:
    """``PGHISTORY_ADMIN_ORDERING``: the events admin's ordering (``["-pgh_created_at"]``)."""
    ordering = _get("ADMIN_ORDERING", "-pgh_created_at") or []
    return [ordering] if isinstance(ordering, str) else list(ordering)


def admin_model() -> type[Model]:
    """``PGHISTORY_ADMIN_MODEL``: the aggregate model the events admin lists
    (``"pghistory_core.Events"``; ``"pghistory.X"`` labels of 3.x are accepted)."""
    from django.apps import apps

    return apps.get_model(_model_label(str(_get("ADMIN_MODEL", "pghistory_core.Events"))))


def admin_queryset() -> QuerySet[Any]:
    """``PGHISTORY_ADMIN_QUERYSET``: the events admin's queryset (all events of
    ``admin_model()`` in ``admin_ordering()``)."""
    queryset = _get("ADMIN_QUERYSET", None)
    if queryset is None:
        return admin_model()._default_manager.order_by(*admin_ordering())
    return cast("QuerySet[Any]", queryset)


def admin_class() -> type[Any]:
    """``PGHISTORY_ADMIN_CLASS``: the ModelAdmin of the events admin (a subclass, or dotted
    path to a subclass, of ``pghistory_core.admin.EventsAdmin``)."""
    events_admin = import_string("pghistory_core.admin.EventsAdmin")
    value = _get("ADMIN_CLASS", events_admin)
    if isinstance(value, str):
        value = import_string(value.replace("pghistory.admin.", "pghistory_core.admin.", 1))
    if not (isinstance(value, type) and issubclass(value, events_admin)):
        raise ImproperlyConfigured(
            "PGHISTORY_ADMIN_CLASS must be a subclass of pghistory_core.admin.EventsAdmin, "
            f"not {value!r}."
        )
    return value


def admin_all_events() -> bool:
    """``PGHISTORY_ADMIN_ALL_EVENTS``: list every event when no filter is chosen (``True``);
    ``False`` shows none until a filter narrows the list."""
    return bool(_get("ADMIN_ALL_EVENTS", True))


def admin_list_display() -> list[str]:
    """``PGHISTORY_ADMIN_LIST_DISPLAY``: the events admin's columns (the time, object, diff;
    plus user and url when listing ``MiddlewareEvents``)."""
    defaults = ["pgh_created_at", "pgh_obj_model", "pgh_obj_id", "pgh_diff"]
    if admin_queryset().model._meta.label == "pghistory_core.MiddlewareEvents":
        defaults += ["user", "url"]
    return list(_get("ADMIN_LIST_DISPLAY", defaults))


__all__ = [
    "CONTEXT_ID_SETTING",
    "CONTEXT_METADATA_SETTING",
    "DEFAULT_SECRET_NAMES",
    "DEFAULT_SECRET_PATHS",
    "DJANGO_SESSION_SETTING",
    "EVENT_ID_SEQUENCE",
    "KEY_CHANGE_TABLE",
    "ContextForeignKey",
    "ContextJSONField",
    "ContextUUIDField",
    "Field",
    "ForeignKey",
    "ObjForeignKey",
    "RelatedField",
    "admin_all_events",
    "admin_class",
    "admin_list_display",
    "admin_model",
    "admin_ordering",
    "admin_queryset",
    "append_only",
    "attribute_client_addr",
    "attribute_outside_writes",
    "base_model",
    "context_field",
    "context_id_field",
    "created_at_function",
    "default_trackers",
    "exclude_field_kwargs",
    "field",
    "foreign_key_field",
    "hash_chain",
    "ignored_commands",
    "install_context_func_on_migrate",
    "json_encoder",
    "level",
    "middleware_methods",
    "obj_field",
    "related_field",
    "secret_names",
    "secret_paths",
    "track_commands",
]
