"""The signed-in user's prompt templates: saved prompts with {placeholders}.

The database finds the placeholders and fills them (see database/organising.sql);
this class checks what is saved and shapes the results. A template's model and
settings are checked here as `gen create` would check them, so that a template
saved today does not fail when it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genvault import _validate
from genvault._exceptions import InvalidInput
from genvault._model_factory import model_name
from genvault._records import RenderedTemplate, Template
from genvault._transport import Transport

__all__ = ["TemplatesRepo"]


class TemplatesRepo:
    """Saved prompts with {placeholders}, for `gen create --template`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def save(
        self,
        name: str,
        prompt: str,
        *,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Template:
        """Save (or replace, by name) a template.

        A model name, an ``aspect_ratio`` and a ``seed`` in ``params`` are checked
        as creating an image checks them.
        """
        clean = _validate.text(str(name), "template name").strip()
        if not clean or len(clean) > 100:
            raise InvalidInput("a template needs a name of 1 to 100 characters", hint="e.g. fox")
        if not str(prompt).strip() or len(str(prompt).strip()) > _validate.MAX_PROMPT:
            raise InvalidInput(
                f"a template prompt must be 1 to {_validate.MAX_PROMPT} characters",
                hint='e.g. "a {animal} in the snow"',
            )
        _validate.text(str(prompt), "template prompt")
        settings = dict(params or {})
        if "aspect_ratio" in settings:
            _validate.aspect_ratio(settings["aspect_ratio"])
        if "seed" in settings:
            _validate.seed(settings["seed"])
        if model is not None:
            model = model_name(model)
        _validate.call_arguments("save_template", {"template_settings": settings})
        row = self._transport.rpc(
            "save_template",
            {"name": clean, "prompt": prompt, "model": model, "params": settings},
            scalar=True,
        )
        return Template.from_row(row)

    def list(self) -> list[Template]:
        """The user's templates by name."""
        return [Template.from_row(r) for r in self._transport.rpc("my_templates", {})]

    def delete(self, name: str) -> bool:
        """Delete a template by name; False when there was none."""
        clean = _validate.text(str(name), "template name")
        return bool(self._transport.rpc("delete_template", {"name": clean}, scalar=True))

    def render(self, name: str, values: Mapping[str, str]) -> RenderedTemplate:
        """The template's prompt with every {placeholder} filled from ``values``."""
        clean = _validate.text(str(name), "template name")
        filled = {
            _validate.text(str(k), "placeholder name"): _validate.text(str(v), f"value of {{{k}}}")
            for k, v in values.items()
        }
        rows = self._transport.rpc("render_template", {"name": clean, "vals": filled})
        row = rows[0]
        params = row.get("params") or {}
        return RenderedTemplate(
            prompt=str(row["prompt"]),
            model=row.get("model"),
            params=dict(params) if isinstance(params, Mapping) else {},
        )
