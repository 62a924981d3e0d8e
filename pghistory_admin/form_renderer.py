"""A form renderer that keeps the HTML of widgets it has rendered before.

The audit log's filter form renders a dozen widgets, labels and error lists through templates on
every page (the "changed field" select alone has an option per tracked field): together they
cost more than the page's rows. Their HTML depends only on the template and its context, which
for these widgets holds nothing but strings, numbers, lists and dicts: ``MemoRenderer`` keeps the
HTML per template, language and (frozen) context, and renders anything else as the renderer it
wraps does. The project's ``FORM_RENDERER`` and template overrides still apply; with ``DEBUG``
nothing is kept (templates edited while the server runs show at once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import django.forms
from django.conf import settings
from django.forms.renderers import BaseRenderer, get_default_renderer
from django.utils.functional import Promise
from django.utils.translation import get_language

__all__ = ["MemoRenderer", "memo_renderer"]

#: Entries kept before the memo starts again (the keys hold what users typed into filters).
MAX_ENTRIES = 512
_ATOMS = (str, int, float, type(None))
#: Django's own form templates (``DjangoTemplates`` and ``Jinja2`` renderers).
_STOCK = [Path(django.forms.__file__).parent / folder for folder in ("templates", "jinja2")]
#: What Django's own templates of these names never read from their context (a label's
#: ``field``, a ``BoundField``, would keep it from being kept).
_UNREAD = {"django/forms/label.html": frozenset({"field"})}


class _Unfrozen(Exception):
    """A context holding an object whose rendering may change: not kept."""


def _freeze(value: Any) -> Any:
    """A hashable key standing for ``value`` as a template sees it: plain strings and ``None``
    as they are, anything else with its type (so a safe string and a plain one, or ``True`` and
    ``1``, differ)."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is dict:
        return (dict, tuple([(_freeze(k), _freeze(v)) for k, v in value.items()]))
    if kind is list or kind is tuple:
        return (kind, tuple([_freeze(item) for item in value]))
    if kind is bool or kind is int or kind is float:
        return (kind, value)
    if isinstance(value, Promise):
        return _freeze(str(value))  # its text in the active language (in the key too)
    if isinstance(value, _ATOMS):
        return (kind, value)
    if isinstance(value, dict):
        return (kind, tuple([(_freeze(k), _freeze(v)) for k, v in value.items()]))
    if isinstance(value, list | tuple):
        return (kind, tuple([_freeze(item) for item in value]))
    raise _Unfrozen


class MemoRenderer(BaseRenderer):
    """Renders as ``renderer`` does; contexts of plain values are rendered once per language."""

    def __init__(self, renderer: BaseRenderer) -> None:
        self.renderer = renderer
        self._html: dict[Any, str] = {}
        self._unread: dict[str, frozenset[str]] = {}

    # The template names, the bound field class and anything else are the wrapped renderer's.
    form_template_name = property(lambda self: self.renderer.form_template_name)
    formset_template_name = property(lambda self: self.renderer.formset_template_name)
    field_template_name = property(lambda self: self.renderer.field_template_name)
    bound_field_class = property(lambda self: getattr(self.renderer, "bound_field_class", None))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.renderer, name)

    def get_template(self, template_name: str) -> Any:
        return self.renderer.get_template(template_name)

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        if request is not None or settings.DEBUG:
            return self.renderer.render(template_name, context, request=request)
        unread = self.unread(template_name)
        if unread:
            context_key = {k: v for k, v in context.items() if k not in unread}
        else:
            context_key = context
        try:
            key = (template_name, get_language(), _freeze(context_key))
        except _Unfrozen:
            return self.renderer.render(template_name, context)
        html = self._html.get(key)
        if html is None:
            html = self.renderer.render(template_name, context)
            if len(self._html) >= MAX_ENTRIES:
                self._html.clear()
            self._html[key] = html
        return html

    def unread(self, template_name: str) -> frozenset[str]:
        """Context keys the template ignores: only for Django's own templates, not overrides."""
        unread = self._unread.get(template_name)
        if unread is None:
            unread = frozenset()
            if template_name in _UNREAD:
                origin = getattr(self.renderer.get_template(template_name), "origin", None)
                name = getattr(origin, "name", None)
                if name and Path(name) in [folder / template_name for folder in _STOCK]:
                    unread = _UNREAD[template_name]
            self._unread[template_name] = unread
        return unread


_memos: dict[int, MemoRenderer] = {}


def memo_renderer(renderer: BaseRenderer | None = None) -> MemoRenderer:
    """The ``MemoRenderer`` of ``renderer`` (default: ``FORM_RENDERER``), one per renderer."""
    renderer = renderer or get_default_renderer()
    if isinstance(renderer, MemoRenderer):
        return renderer
    memo = _memos.get(id(renderer))
    if memo is None or memo.renderer is not renderer:
        memo = _memos[id(renderer)] = MemoRenderer(renderer)
    return memo
