"""Form widgets rendered in Python.

Django renders each ``<option>`` of a select through a template include; the
currency filter (166 ISO codes) cost more than the rest of a list page. This
select builds the same accessible HTML directly. The list filters' inputs
(text, date, number) likewise skip the widget templates: each took a
template render with an ``attrs`` include, about a millisecond per filter
form.
"""

from __future__ import annotations

from functools import lru_cache

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join


class QuickSelect(forms.Select):
    def render(self, name, value, attrs=None, renderer=None):
        final = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})
        current = (
            ""
            if value is None
            else str(value[0] if isinstance(value, list | tuple) and value else value)
        )
        choices = tuple((str(v), str(label)) for v, label in self.choices)
        return format_html("<select{}>{}</select>", flatatt(final), _options(choices, current))


@lru_cache(maxsize=256)
def _options(choices: tuple[tuple[str, str], ...], current: str) -> str:
    """The ``<option>`` list of fixed choices with one selected: the same few, page after page."""
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((v, " selected" if v == current else "", label) for v, label in choices),
    )


class QuickInputMixin:
    """An ``<input>`` with the same attributes Django's template would write, built directly."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        final = {"type": widget["type"], "name": widget["name"]}
        if widget["value"] is not None:
            final["value"] = widget["value"]
        final.update(widget["attrs"])
        return format_html("<input{}>", flatatt(final))


class QuickTextInput(QuickInputMixin, forms.TextInput):
    pass


class QuickDateInput(QuickInputMixin, forms.DateInput):
    pass


class QuickNumberInput(QuickInputMixin, forms.NumberInput):
    pass
