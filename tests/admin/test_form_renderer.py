"""``form_renderer.MemoRenderer``: the filter form's HTML is what the project's renderer gives."""

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.test import override_settings
from django.utils import translation
from django.utils.safestring import mark_safe

from pghistory_admin.filters import EventFilterSet
from pghistory_admin.form_renderer import MemoRenderer, memo_renderer
from pghistory_admin.permissions import viewable_event_models
from pghistory_core.models import Events

pytestmark = pytest.mark.django_db


class Counting(DjangoTemplates):
    def __init__(self):
        self.calls = []

    def render(self, template_name, context, request=None):
        self.calls.append(template_name)
        return super().render(template_name, context, request)


class Sample(forms.Form):
    name = forms.CharField(label="Name <x>", help_text="Help & more")
    kind = forms.ChoiceField(choices=[("a", "A <b>"), ("b", mark_safe("<i>B</i>"))])
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))


def _html(form):
    return "".join(f"{field.label_tag()}{field}{field.errors}" for field in form)


@pytest.mark.parametrize("data", [None, {"name": "<script>", "kind": "b", "day": "nope"}])
def test_same_html_as_the_renderer_it_wraps(data):
    renderer = Counting()
    memo = MemoRenderer(renderer)
    plain = _html(Sample(data, renderer=DjangoTemplates()))
    assert _html(Sample(data, renderer=memo)) == plain
    first = len(renderer.calls)
    assert _html(Sample(data, renderer=memo)) == plain
    assert len(renderer.calls) == first  # every widget, label and error list kept
    assert "<script>" not in plain


def test_kept_per_language(superuser):
    memo = MemoRenderer(Counting())
    models = viewable_event_models(superuser)

    def html():
        filterset = EventFilterSet({}, queryset=Events.objects.all(), event_models=models)
        form = filterset.form
        form.renderer = memo
        return _html(form)

    english = html()
    with translation.override("de"):
        german = html()
    assert english != german
    assert html() == english
    with translation.override("de"):
        assert html() == german


def test_objects_in_the_context_are_rendered_each_time():
    renderer = Counting()
    memo = MemoRenderer(renderer)
    context = {"widget": {"value": object()}}
    memo.render("django/forms/widgets/input.html", context)
    memo.render("django/forms/widgets/input.html", context)
    assert len(renderer.calls) == 2


def test_nothing_kept_with_debug():
    renderer = Counting()
    memo = MemoRenderer(renderer)
    with override_settings(DEBUG=True):
        _html(Sample(renderer=memo))
        once = len(renderer.calls)
        _html(Sample(renderer=memo))
    assert len(renderer.calls) == 2 * once


def test_labels_kept_only_from_djangos_own_template():
    memo = MemoRenderer(get_default_renderer())
    assert memo.unread("django/forms/label.html") == {"field"}
    assert memo.unread("django/forms/widgets/input.html") == frozenset()


def test_the_filter_form_uses_one_memo_per_renderer(superuser):
    models = viewable_event_models(superuser)
    form = EventFilterSet({}, queryset=Events.objects.all(), event_models=models).form
    assert form.renderer is memo_renderer()
    assert memo_renderer(form.renderer) is form.renderer


def test_template_names_are_the_wrapped_renderers():
    class Tables(DjangoTemplates):
        form_template_name = "django/forms/table.html"
        field_template_name = "custom/field.html"

    memo = MemoRenderer(Tables())
    assert memo.form_template_name == "django/forms/table.html"
    assert memo.field_template_name == "custom/field.html"
    assert memo.formset_template_name == DjangoTemplates.formset_template_name
    assert str(Sample(renderer=memo)) == str(Sample(renderer=Tables()))
