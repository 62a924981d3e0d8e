"""The audit log's filters (django-filter): model, action, user, dates, object, field, context.

Choices are built from the event models the user may view, so they never reveal other models,
and every value is validated by the form before it reaches SQL (as a bound parameter).

One concept, so one module past 300 lines: the filter set, its form, and the form fields that
only it uses (context pairs, users).
"""

from __future__ import annotations

import datetime
import re
import shlex
from typing import TYPE_CHECKING, Any, cast

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from pghistory_admin import conf
from pghistory_admin.form_renderer import memo_renderer
from pghistory_admin.keys import parse_object_id
from pghistory_admin.wording import action_label
from pghistory_core.changes import changed_columns

if TYPE_CHECKING:
    from pghistory_core.models import Event

__all__ = [
    "ContextPairsField",
    "EventFilterForm",
    "EventFilterSet",
    "UserField",
]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
MAX_PAIRS = 10
MAX_VALUE = 200


def _json_value(value: Any) -> Any:
    """A primary key as the JSON encoder records it (UUIDs and other objects as strings)."""
    return value if isinstance(value, int | str) else str(value)


def _json_candidates(text: str) -> list[Any]:
    """The JSON values a text typed into the filter may stand for."""
    candidates: list[Any] = [text]
    if re.fullmatch(r"-?[0-9]{1,18}", text):
        candidates.append(int(text))
    elif text in ("true", "false"):
        candidates.append(text == "true")
    return candidates


class ContextPairsField(forms.CharField):
    """``key=value`` pairs separated by spaces (quote a value holding spaces: ``k="a b"``)."""

    default_error_messages = {
        "syntax": _("Write key=value pairs separated by spaces, e.g. request_id=abc."),
        "key": _("“%(key)s” is not a valid context key."),
        "secret": _("“%(key)s” holds secrets: it cannot be filtered on."),
        "too_many": _("Use at most %(max)s key=value pairs."),
        "too_long": _("Values are limited to %(max)s characters."),
    }

    def clean(self, value: Any) -> list[tuple[str, str]]:
        text = super().clean(value)
        if not text:
            return []
        try:
            tokens = shlex.split(text)
        except ValueError:
            raise ValidationError(self.error_messages["syntax"], code="syntax") from None
        if len(tokens) > MAX_PAIRS:
            raise ValidationError(
                self.error_messages["too_many"], code="too_many", params={"max": MAX_PAIRS}
            )
        pairs = []
        for token in tokens:
            key, sep, pair_value = token.partition("=")
            if not sep:
                raise ValidationError(self.error_messages["syntax"], code="syntax")
            if not _KEY.match(key):
                raise ValidationError(self.error_messages["key"], code="key", params={"key": key})
            if conf.is_secret_context_key(key):
                raise ValidationError(
                    self.error_messages["secret"], code="secret", params={"key": key}
                )
            if len(pair_value) > MAX_VALUE:
                raise ValidationError(
                    self.error_messages["too_long"], code="too_long", params={"max": MAX_VALUE}
                )
            pairs.append((key, pair_value))
        return pairs


class ContextPairsFilter(django_filters.Filter):
    field_class = ContextPairsField


class UserField(forms.CharField):
    """A username or a user id: cleans to the primary keys of the users it names.

    A name that matches no user is a form error, not an empty result: "No events" would read
    as "this user changed nothing".
    """

    default_error_messages = {
        "unknown": _("No user “%(value)s” exists (give a username or a user id)."),
        "unknown_similar": _("No user “%(value)s” exists. Did you mean “%(similar)s”?"),
    }

    def clean(self, value: Any) -> list[Any]:
        text = super().clean(value)
        if not text:
            return []
        user_model = get_user_model()
        manager = user_model._default_manager.db_manager(conf.read_database())
        condition = models.Q(**{user_model.USERNAME_FIELD: text})
        pk_field = user_model._meta.pk
        try:
            pk = pk_field.to_python(text)
            pk_field.run_validators(pk)
        except ValidationError:
            pass
        else:
            condition |= models.Q(pk=pk)
        pks = list(manager.filter(condition).values_list("pk", flat=True)[:50])
        if pks:
            return pks
        # Only on a miss: a case-insensitive lookup cannot use the username's unique index.
        lookup = f"{user_model.USERNAME_FIELD}__iexact"
        similar = manager.filter(**{lookup: text}).values_list(user_model.USERNAME_FIELD, flat=True)
        first = similar.first()
        if first is not None:
            raise ValidationError(
                self.error_messages["unknown_similar"],
                code="unknown",
                params={"value": text, "similar": first},
            )
        raise ValidationError(
            self.error_messages["unknown"], code="unknown", params={"value": text}
        )


class UserFilter(django_filters.Filter):
    field_class = UserField


class EventFilterForm(forms.Form):
    """Checks what one field cannot: the object id against the chosen model, the date order."""

    event_models: list[type[Event]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Its widgets are the same on most pages: their HTML is kept (``form_renderer``).
        self.renderer = memo_renderer(self.renderer)

    def clean(self) -> dict[str, Any]:
        data = cast("dict[str, Any]", super().clean())
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end date is before the start date."))
        obj, model_label = data.get("object"), data.get("model")
        if obj and model_label:
            model = _tracked_models(self.event_models).get(model_label)
            if model is not None:
                try:
                    data["object"] = parse_object_id(model, obj)
                except ValidationError:
                    self.add_error(
                        "object",
                        _("“%(value)s” is not an id of %(model)s.")
                        % {"value": obj, "model": model._meta.verbose_name},
                    )
        return data


def _tracked_models(event_models: list[type[Event]]) -> dict[str, type[models.Model]]:
    return {m.pgh_tracked_model._meta.label_lower: m.pgh_tracked_model for m in event_models}


def _model_field_choices(
    model: type[models.Model], event_models: list[type[Event]]
) -> list[tuple[str, str]]:
    """``(attname, verbose name)`` of the fields of ``model`` that its event models record."""
    names = {
        name
        for event_model in event_models
        if event_model.pgh_tracked_model is model
        for name in event_model.pgh_tracked_fields
    }
    return [
        (field.attname, str(capfirst(field.verbose_name)))
        for field in model._meta.concrete_fields
        if field.name in names
    ]


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class EventFilterSet(django_filters.FilterSet):
    """Filters of the aggregate stream; pass ``event_models`` (those the user may view)."""

    model = django_filters.ChoiceFilter(
        label=_("Model"), method="filter_model", empty_label=_("All")
    )
    action = django_filters.ChoiceFilter(
        label=_("Action"), field_name="pgh_label", empty_label=_("All")
    )
    user = UserFilter(
        label=_("User"),
        method="filter_user",
        max_length=150,
        help_text=_("A username or a user id."),
    )
    since = django_filters.DateFilter(label=_("From"), method="filter_since", widget=_date_widget())
    until = django_filters.DateFilter(label=_("To"), method="filter_until", widget=_date_widget())
    object = django_filters.CharFilter(label=_("Object id"), method="filter_object", max_length=255)
    field = django_filters.ChoiceFilter(
        label=_("Changed field"), method="filter_field", empty_label=_("Any")
    )
    context = ContextPairsFilter(
        label=_("Context"),
        method="filter_context",
        max_length=2000,
        help_text=_("key=value pairs of the context metadata, e.g. request_id=abc."),
        widget=forms.TextInput(attrs={"placeholder": "request_id=abc"}),
    )
    context_id = django_filters.UUIDFilter(label=_("Context id"), field_name="pgh_context_id")

    class Meta:
        form = EventFilterForm

    def __init__(
        self, *args: Any, event_models: list[type[Event]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.event_models = list(event_models or [])
        tracked = _tracked_models(self.event_models)
        self.filters["model"].extra["choices"] = [
            (
                label,
                f"{capfirst(model._meta.app_config.verbose_name)} | {capfirst(model._meta.verbose_name)}",
            )
            for label, model in tracked.items()
        ]
        labels = sorted({t.label for m in self.event_models for t in m.pgh_trackers if t.label})
        self.filters["action"].extra["choices"] = [(label, action_label(label)) for label in labels]
        self.filters["field"].extra["choices"] = self._field_choices(tracked)
        self.filters["field"].extra["error_messages"] = {
            "invalid_choice": _(
                "“%(value)s” is not a tracked field of the chosen model: pick one from the list."
            )
        }

    def _field_choices(self, tracked: dict[str, type[models.Model]]) -> list[Any]:
        """Tracked fields by verbose name: the chosen model's, or every model's in groups.

        Values are attribute names (``category_id``), the keys of ``pgh_diff``.
        """
        chosen = tracked.get(str((self.data or {}).get("model") or ""))
        if chosen is not None:
            return _model_field_choices(chosen, self.event_models)
        return [
            (
                str(capfirst(model._meta.verbose_name)),
                _model_field_choices(model, self.event_models),
            )
            for model in tracked.values()
        ]

    @property
    def form(self) -> forms.Form:
        form = super().form
        form.event_models = self.event_models
        return form

    def _subset(self, label: str) -> list[type[Event]]:
        return [m for m in self.event_models if m.pgh_tracked_model._meta.label_lower == label]

    def filter_model(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.across(*self._subset(value))

    def filter_user(self, queryset: Any, name: str, pks: list[Any]) -> Any:
        # UserField found the users (a name matching none is a form error).
        # The middleware records the primary key as JSON (a number, or a string for UUIDs);
        # the containment test runs in each event table on the Context table's GIN index.
        return queryset.context_matches(*({"user": _json_value(pk)} for pk in pks))

    def filter_since(self, queryset: Any, name: str, value: datetime.date) -> Any:
        return queryset.filter(pgh_created_at__gte=_day_start(value))

    def filter_until(self, queryset: Any, name: str, value: datetime.date) -> Any:
        try:
            end = _day_start(value + datetime.timedelta(days=1))
        except OverflowError:
            return queryset
        return queryset.filter(pgh_created_at__lt=end)

    def filter_object(self, queryset: Any, name: str, value: Any) -> Any:
        model_label = self.form.cleaned_data.get("model")
        model = _tracked_models(self.event_models).get(model_label or "")
        if model is not None:
            # Pushed into each event table, where the (pgh_obj, pgh_id) index answers it.
            return queryset.tracks(model(pk=value))
        return queryset.filter(pgh_obj_id=str(value))

    def filter_field(self, queryset: Any, name: str, value: str) -> Any:
        # Tested in each event table against the object's previous event, newest first: the
        # views bound how far back one request searches (``search_scope``).
        return queryset.changed(value)

    def search_scope(self, queryset: Any) -> Any:
        """The events of ``queryset`` that a search for the ``field`` filter's changes tests.

        Those of the chosen event models that track the field, of the chosen object when there is
        one (its own events, on the ``(pgh_obj, pgh_id)`` index); the other filters do not narrow
        it, so counting them reads only primary keys. ``None`` without a valid ``field`` filter.
        """
        if not self.is_valid():
            return None
        data = self.form.cleaned_data
        name = data.get("field")
        if not name:
            return None
        label = data.get("model") or ""
        chosen = self._subset(label) if label else self.event_models
        tracking = [m for m in chosen if changed_columns(m, [name], keys_only=True)]
        if not tracking:
            return queryset.none()
        scope = queryset.across(*tracking)
        model = _tracked_models(self.event_models).get(label)
        if model is not None and data.get("object") not in (None, ""):
            scope = scope.tracks(model(pk=data["object"]))
        return scope

    def field_label(self) -> str | None:
        """The verbose name of the ``field`` filter's field, as its choices show it."""
        value = self.form.cleaned_data.get("field") if self.is_valid() else None
        if not value:
            return None
        choices: Any = getattr(self.form.fields["field"], "choices", [])
        for choice, label in choices:
            options = label if isinstance(label, list | tuple) else [(choice, label)]
            for option, option_label in options:
                if option == value:
                    return str(option_label)
        return str(value)

    def filter_context(self, queryset: Any, name: str, value: list[tuple[str, str]]) -> Any:
        for key, pair_value in value:
            # A typed value ("42", "true") may have been recorded as a JSON number or boolean.
            queryset = queryset.context_matches(
                *({key: candidate} for candidate in _json_candidates(pair_value))
            )
        return queryset
