"""Choosing the image model: the offline stand-in or a model on Replicate, by name.

:func:`model_name` is the one check of a model's name; :func:`make_model` uses
it before building the model, and templates use it before saving one.
"""

from __future__ import annotations

import re

from genvault import _validate
from genvault._exceptions import InvalidInput
from genvault._imagegen import ImageModel
from genvault._settings import OFFLINE_MODEL, Settings

__all__ = ["MODEL_REF", "make_model", "model_name"]

MODEL_REF = re.compile(
    r"^(?P<owner>[a-z0-9][a-z0-9_.-]*)/(?P<name>[a-z0-9][a-z0-9_.-]*)"
    r"(?::(?P<version>[0-9a-f]{16,64}))?$"
)
"""owner/name for an official Replicate model, owner/name:version for one version."""

_FORMS = (
    "owner/name or owner/name:version (e.g. black-forest-labs/flux-schnell), or genvault/offline"
)


def model_name(name: str) -> str:
    """``name`` trimmed, when it can name a model: genvault/offline or a Replicate model.

    InvalidInput for a malformed name or another genvault/ name. Nothing is
    contacted, so a well-formed name of a model that does not exist passes.
    """
    clean = _validate.text(name, "model name").strip()
    if clean == OFFLINE_MODEL:
        return clean
    if not MODEL_REF.match(clean):
        raise InvalidInput(f"model name {clean!r} is malformed", hint=f"use {_FORMS}")
    if clean.startswith("genvault/"):
        raise InvalidInput(f"genvault has no model {clean!r}", hint=f"use {_FORMS}")
    return clean


def make_model(settings: Settings, name: str | None = None) -> ImageModel:
    """The model called ``name``, or the configured default when ``name`` is None.

    ``genvault/offline`` draws locally; any other name is a Replicate model and
    needs REPLICATE_API_TOKEN. Raises InvalidInput for a malformed or unknown
    name, or a Replicate model without a token. Nothing is contacted here.
    """
    name = model_name(settings.default_model if name is None else name)
    if name == OFFLINE_MODEL:
        from genvault._offline import OfflineModel

        return OfflineModel()
    if not settings.replicate_token:
        raise InvalidInput(
            f"model {name} needs REPLICATE_API_TOKEN",
            hint=f"set REPLICATE_API_TOKEN to use Replicate, or use {OFFLINE_MODEL}",
        )
    from genvault._replicate import ReplicateModel

    return ReplicateModel(
        settings.replicate_token,
        model=name,
        base_url=settings.replicate_base_url,
        timeout=settings.model_timeout,
    )
