"""The offline model: a deterministic picture drawn locally, with no network and no token.

It lets genvault (and its tests) run end to end without Replicate. The picture
is abstract, a gradient with a few shapes whose colours and places come from a
SHA-256 of the prompt, seed and aspect ratio, and it is labelled "genvault
offline" so that nobody mistakes it for a real generation.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, ImageOps

from genvault._exceptions import InvalidInput
from genvault._imagegen import ASPECT_RATIOS, ImageRequest, ImageResult, StatusCallback
from genvault._settings import OFFLINE_MODEL

__all__ = ["OfflineModel"]

_LONG_SIDE = 512
_LABEL = "genvault offline"

Color = tuple[int, int, int]


class OfflineModel:
    """An offline stand-in for an image model: draws an abstract picture locally.

    The same prompt, seed and aspect ratio always give the same PNG bytes, and
    different prompts give visibly different pictures. The picture says
    "genvault offline" in its corner. It takes a few milliseconds and never
    touches the network, so there is nothing remote to cancel.
    """

    name: str = OFFLINE_MODEL
    offline: bool = True

    def generate(
        self, request: ImageRequest, *, on_status: StatusCallback | None = None
    ) -> ImageResult:
        """Draw the picture for ``request`` and return it as PNG bytes."""
        width, height = _size(request.aspect_ratio)
        if on_status:
            on_status("running", "drawing offline")
        seed = "" if request.seed is None else str(request.seed)
        key = "\x00".join(("genvault-offline-v1", request.prompt, seed, request.aspect_ratio))
        image = _draw(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest(), width, height)
        out = io.BytesIO()
        image.save(out, "PNG", compress_level=1)
        return ImageResult(
            data=out.getvalue(),
            content_type="image/png",
            model=self.name,
            prediction_id=None,
            seed=request.seed,
        )


def _size(aspect_ratio: str) -> tuple[int, int]:
    """Width and height for ``aspect_ratio``, 512 pixels on the longer side."""
    if aspect_ratio not in ASPECT_RATIOS:
        raise InvalidInput(
            f"aspect ratio {aspect_ratio!r} is not supported",
            hint=f"use one of {', '.join(ASPECT_RATIOS)}",
        )
    w, h = (int(part) for part in aspect_ratio.split(":"))
    if w >= h:
        return _LONG_SIDE, round(_LONG_SIDE * h / w)
    return round(_LONG_SIDE * w / h), _LONG_SIDE


def _bytes(digest: bytes) -> Iterator[int]:
    """An endless, reproducible stream of bytes drawn from ``digest`` (SHA-256 in
    counter mode), so the picture depends on nothing but the inputs."""
    counter = 0
    while True:
        yield from hashlib.sha256(digest + counter.to_bytes(8, "big")).digest()
        counter += 1


def _draw(digest: bytes, width: int, height: int) -> Image.Image:
    stream = _bytes(digest)

    def byte() -> int:
        return next(stream)

    def color() -> Color:
        return byte(), byte(), byte()

    # Background: a gradient between two colours, in one of four directions.
    gradient = Image.linear_gradient("L").resize((width, height))
    direction = byte() % 4
    if direction == 1:
        gradient = gradient.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    elif direction >= 2:
        gradient = gradient.transpose(Image.Transpose.ROTATE_90).resize((width, height))
        if direction == 3:
            gradient = gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = ImageOps.colorize(gradient, color(), color())

    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(5 + byte() % 6):
        x0 = byte() * width // 256
        y0 = byte() * height // 256
        x1 = x0 + (16 + byte()) * width // 512
        y1 = y0 + (16 + byte()) * height // 512
        fill = (*color(), 96 + byte() % 128)
        kind = byte() % 3
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        else:
            draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=fill)

    font = _font()
    left, top, right, bottom = draw.textbbox((0, 0), _LABEL, font=font)
    pad = 4
    box = (pad, height - (bottom - top) - 3 * pad, right - left + 3 * pad, height - pad)
    draw.rectangle(box, fill=(0, 0, 0, 160))
    draw.text((box[0] + pad - left, box[1] + pad - top), _LABEL, font=font, fill=(255, 255, 255))
    return image


@lru_cache(maxsize=1)
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=13)
