"""What `create` makes: the prompt and settings, filled from a template or an earlier image.

A template (``template`` with ``values``) or an earlier generation (``source``)
gives the prompt, the model and the settings that the caller left out. The
result is checked whole (prompt, aspect ratio, every seed of a batch, the
model's name) before anything is reserved, so a refusal costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from genvault import _validate
from genvault._exceptions import InvalidInput
from genvault._imagegen import ImageModel

if TYPE_CHECKING:
    from genvault._generations import GenerationsRepo
    from genvault._templates import TemplatesRepo

__all__ = ["Recipe", "make_recipe"]


@dataclass(frozen=True)
class Recipe:
    """A checked prompt and the settings to make it with: what :meth:`Client.make` takes."""

    prompt: str
    """Trimmed, as it is saved."""
    model: ImageModel
    """The model itself, found by its name (or the one given)."""
    aspect_ratio: str = "1:1"
    """One of :data:`genvault.ASPECT_RATIOS`."""
    seed: int | None = None
    """The first image's seed; None for a random one."""

    def seed_at(self, index: int) -> int | None:
        """The seed of image ``index`` (from 0) of a batch: each takes the next one."""
        return None if self.seed is None else self.seed + index


class _Sources(Protocol):
    """What a recipe is filled from: the user's templates and history, and the models."""

    @property
    def templates(self) -> TemplatesRepo: ...

    @property
    def generations(self) -> GenerationsRepo: ...

    def model(self, name: str | None = None) -> ImageModel: ...

    def check_prompt(self, prompt: str) -> str: ...


class _Base(Protocol):
    """A rendered template or an earlier generation."""

    @property
    def prompt(self) -> str: ...

    @property
    def model(self) -> str | None: ...

    @property
    def params(self) -> dict[str, Any]: ...


def make_recipe(
    sources: _Sources,
    prompt: str | None = None,
    *,
    model: str | ImageModel | None = None,
    aspect_ratio: str | None = None,
    seed: int | None = None,
    template: str | None = None,
    values: Mapping[str, str] | None = None,
    source: str | None = None,
    count: int = 1,
) -> Recipe:
    """What ``create`` would make, checked, without reserving anything (``Client.recipe``).

    With ``template`` (its placeholders filled from ``values``) or ``source``
    (an earlier generation's id or 8+ character prefix), the prompt and,
    unless given here, the model, aspect ratio and seed come from there.
    ``count`` images take the seeds from ``seed`` on, so each is checked.
    """
    base = _base(sources, prompt, template, values, source)
    if base is not None:
        prompt = base.prompt if prompt is None else prompt
        model = base.model if model is None else model
        aspect_ratio = aspect_ratio or _saved(base.params, "aspect_ratio", str)
        seed = _saved(base.params, "seed", int) if seed is None else seed
    if prompt is None:
        raise InvalidInput("no prompt given", hint='e.g. gen create "a red fox in snow"')
    text = sources.check_prompt(prompt)
    ratio = _validate.aspect_ratio(aspect_ratio or "1:1")
    if seed is not None:
        _validate.seed(seed)
        _validate.seed(seed + count - 1)
    chosen = model if model is not None and not isinstance(model, str) else sources.model(model)
    return Recipe(text, chosen, ratio, seed)


def _base(
    sources: _Sources,
    prompt: str | None,
    template: str | None,
    values: Mapping[str, str] | None,
    source: str | None,
) -> _Base | None:
    """The template or the earlier generation to fill the gaps from, if one was named."""
    if template is not None:
        if prompt is not None:
            raise InvalidInput(
                "give a prompt or a template, not both", hint="drop the prompt or --template"
            )
        if source is not None:
            raise InvalidInput(
                "give an earlier generation or a template, not both",
                hint="drop --from or --template",
            )
        return sources.templates.render(template, values or {})
    if values:
        raise InvalidInput("values fill a template", hint="add --template NAME")
    if source is not None:
        repo = sources.generations
        return repo.get(repo.full_id(source))
    return None


def _saved(params: Mapping[str, Any], key: str, kind: type[Any]) -> Any:
    """A setting saved with the template or generation, when it has the right type."""
    value = params.get(key)
    return value if isinstance(value, kind) else None
