"""Checks on user input, done before anything is reserved or sent.

Each refusal is an InvalidInput whose message says what was wrong and what is
allowed, so a person can fix it in one try.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from genvault._exceptions import InvalidInput
from genvault._imagegen import ASPECT_RATIOS

__all__ = [
    "MAX_PROMPT",
    "aspect_ratio",
    "call_arguments",
    "generation_id",
    "in_range",
    "prompt",
    "seed",
    "tags",
    "text",
]

MAX_PROMPT = 2000
_BIDI_CONTROLS = {
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
}


def text(value: str, what: str) -> str:
    """``value`` unchanged when it can be stored as text; InvalidInput naming ``what`` if not.

    A Python str can hold what no database text can: lone surrogates, which is
    how Python keeps bytes that were not UTF-8 (a Latin-1 terminal's argv, a
    file name), and NUL. Both are refused here, before anything is reserved or
    written, rather than by the database driver half-way through a call.
    """
    if not isinstance(value, str):
        raise TypeError(f"the {what} must be a str")
    _storable(value, f"the {what}")
    return value


def _storable(value: str, subject: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{subject} is not valid text (it contains bytes that are not UTF-8)",
            hint="retype it, or check that your terminal's encoding is UTF-8",
        ) from None
    if "\x00" in value:
        raise InvalidInput(f"{subject} contains a NUL character", hint="remove it")


def call_arguments(fn: str, args: Mapping[str, Any]) -> None:
    """Refuse a call of ``fn`` whose arguments hold a str that cannot be stored as text.

    The transports run this on every call, nested dicts and lists included, so
    that text no entry point checked still gets the same clear InvalidInput
    instead of an error from the driver.
    """
    for name, value in args.items():
        label = name.replace("_", " ")
        if isinstance(value, str):
            _storable(value, f"the {label}")
        else:
            _walk(value, f"a value in the {label}")


def _walk(value: Any, subject: str) -> None:
    if isinstance(value, str):
        _storable(value, subject)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                _storable(key, subject)
            _walk(item, subject)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _walk(item, subject)


def prompt(value: str) -> str:
    """The prompt trimmed; refused when blank, too long, not text, or holding control characters."""
    if not isinstance(value, str):
        raise TypeError("prompt must be a str")
    cleaned = text(value, "prompt").strip()
    if not cleaned:
        raise InvalidInput("the prompt is empty", hint="describe the image you want")
    if len(cleaned) > MAX_PROMPT:
        raise InvalidInput(
            f"the prompt is {len(cleaned):,} characters long",
            hint=f"shorten it to at most {MAX_PROMPT:,} characters",
        )
    if "\x00" in cleaned:
        raise InvalidInput("the prompt contains a NUL character", hint="remove it")
    bidi = sorted({f"U+{ord(c):04X}" for c in cleaned if c in _BIDI_CONTROLS})
    if bidi:
        raise InvalidInput(
            f"the prompt contains text-direction control characters ({', '.join(bidi)})",
            hint="they can make a prompt display differently from what it says; remove them",
        )
    odd = sorted(
        {f"U+{ord(c):04X}" for c in cleaned if unicodedata.category(c) == "Cc" and c not in "\n\t"}
    )
    if odd:
        raise InvalidInput(
            f"the prompt contains control characters ({', '.join(odd)})", hint="remove them"
        )
    return cleaned


def aspect_ratio(value: str) -> str:
    """One of the aspect ratios the models accept."""
    if value not in ASPECT_RATIOS:
        raise InvalidInput(
            f"unknown aspect ratio {value!r}",
            hint=f"use one of {', '.join(ASPECT_RATIOS)}",
        )
    return value


def seed(value: int | None) -> int | None:
    """A seed in the range models accept, or None for a random one."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if value is not None and not (whole and 0 <= value <= 2**32 - 1):
        raise InvalidInput(
            f"the seed {value} is out of range", hint="use a whole number from 0 to 4294967295"
        )
    return value


def generation_id(value: str, *, what: str = "generation id") -> uuid.UUID:
    """A generation (or other) id as a UUID; refused when it is not one."""
    try:
        return uuid.UUID(str(value).strip())
    except ValueError as exc:
        raise InvalidInput(
            f"{str(value)[:60]!r} is not a {what}",
            hint="ids look like 3f1c2a9e-5b7d-4e0a-9c1b-2d3e4f5a6b7c",
        ) from exc


def in_range(value: int, name: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high``; InvalidInput naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            f"{name} {value!r} is out of range", hint=f"use a whole number from {low} to {high}"
        )
    return value


MAX_TAG = 50
"""The longest tag, in characters (the database's rule too)."""
MAX_TAGS = 20
"""The most tags one call adds, removes or filters by: a generation carries at
most 20 (the database counts those), so more in one call can never all apply."""


def tags(values: Iterable[str]) -> list[str]:
    """Tags as stored (trimmed, lower-case, no repeats); refused when one is empty or long."""
    out: list[str] = []
    for raw in values:
        tag = str(raw).strip().lower()
        if not tag:
            raise InvalidInput("a tag is empty", hint="give tags like: portrait, 2024")
        if len(tag) > MAX_TAG:
            raise InvalidInput(
                f"the tag {tag[:20]!r}... is too long", hint=f"use at most {MAX_TAG} characters"
            )
        if "\x00" in tag:
            raise InvalidInput("a tag contains a NUL character", hint="remove it")
        text(tag, "tag")
        if tag not in out:
            out.append(tag)
    if not out:
        raise InvalidInput("no tag given", hint="give at least one tag")
    if len(out) > MAX_TAGS:
        raise InvalidInput("too many tags", hint=f"give at most {MAX_TAGS} tags at once")
    return out
