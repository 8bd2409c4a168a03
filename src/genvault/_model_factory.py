"""Choosing the image model: the offline stand-in or a model on Replicate, by name."""

from __future__ import annotations

from genvault import _validate
from genvault._exceptions import InvalidInput
from genvault._imagegen import ImageModel
from genvault._settings import OFFLINE_MODEL, Settings

__all__ = ["make_model"]

_FORMS = (
    "owner/name or owner/name:version (e.g. black-forest-labs/flux-schnell), or genvault/offline"
)


def make_model(settings: Settings, name: str | None = None) -> ImageModel:
    """The model called ``name``, or the configured default when ``name`` is None.

    ``genvault/offline`` draws locally; any other name is a Replicate model and
    needs REPLICATE_API_TOKEN. Raises InvalidInput for a malformed or unknown
    name, or a Replicate model without a token. Nothing is contacted here.
    """
    name = settings.default_model if name is None else _validate.text(name, "model name").strip()
    if name == OFFLINE_MODEL:
        from genvault._offline import OfflineModel

        return OfflineModel()

    from genvault._replicate import MODEL_REF, ReplicateModel

    if not MODEL_REF.match(name):
        raise InvalidInput(f"model name {name!r} is malformed", hint=f"use {_FORMS}")
    if name.startswith("genvault/"):
        raise InvalidInput(f"genvault has no model {name!r}", hint=f"use {_FORMS}")
    if not settings.replicate_token:
        raise InvalidInput(
            f"model {name} needs REPLICATE_API_TOKEN",
            hint=f"set REPLICATE_API_TOKEN to use Replicate, or use {OFFLINE_MODEL}",
        )
    return ReplicateModel(
        settings.replicate_token,
        model=name,
        base_url=settings.replicate_base_url,
        timeout=settings.model_timeout,
    )
