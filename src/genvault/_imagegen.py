"""Image models: the interface the generation flow uses, and the offline stand-in.

A model turns an :class:`ImageRequest` into image bytes. Replicate's models live
in :mod:`genvault._replicate`; :class:`genvault._offline.OfflineModel` draws a deterministic picture
from the prompt with Pillow, so that genvault works with no network and no token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "ASPECT_RATIOS",
    "ImageModel",
    "ImageRequest",
    "ImageResult",
    "StatusCallback",
]

ASPECT_RATIOS: tuple[str, ...] = (
    "1:1",
    "16:9",
    "21:9",
    "3:2",
    "2:3",
    "4:5",
    "5:4",
    "3:4",
    "4:3",
    "9:16",
    "9:21",
)

Phase = Literal["queued", "running", "saving"]
StatusCallback = Callable[[Phase, str], None]
"""Called with a phase and a short human-readable detail as a generation proceeds."""


@dataclass(frozen=True)
class ImageRequest:
    """What to draw. Validated by the generation flow before a credit is reserved."""

    prompt: str
    model: str
    aspect_ratio: str = "1:1"
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """The settings recorded with the generation (so it can be repeated)."""
        out: dict[str, Any] = {"aspect_ratio": self.aspect_ratio, **self.extra}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


@dataclass(frozen=True)
class ImageResult:
    """Bytes the model produced, before genvault converts and stores them."""

    data: bytes
    content_type: str
    model: str
    prediction_id: str | None = None
    seed: int | None = None


class ImageModel(Protocol):
    """Something that makes an image from a request."""

    name: str
    offline: bool

    def generate(
        self, request: ImageRequest, *, on_status: StatusCallback | None = None
    ) -> ImageResult:
        """Run the model and return the image; raise ModelFailed on failure.

        Must honour KeyboardInterrupt by cancelling remote work before re-raising.
        """
        ...
