"""The generation flow: reserve a credit, run the model, store, record; or refund.

The order is what keeps the promises: a credit is held before the model runs;
the image bytes are in durable storage before any row points at them (a model
provider's URL disappears within the hour); the row and the spend commit in one
transaction; any failure after the reservation refunds it exactly once and
removes what was written. A process that dies half-way leaves a reservation
that :func:`sweep` refunds later, together with any file it left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from genvault import _validate
from genvault._exceptions import Conflict, GenvaultError, InvalidInput, ModelFailed
from genvault._generations import GenerationsRepo
from genvault._imagegen import ImageModel, ImageRequest, ImageResult, StatusCallback
from genvault._records import Generation
from genvault._storage import Storage
from genvault._transport import Transport

__all__ = ["Generator", "SweepResult"]


@dataclass(frozen=True)
class SweepResult:
    """What an expiry sweep cleaned up."""

    refunded: int
    files_removed: int


class Generator:
    """Runs generations for one signed-in user."""

    def __init__(
        self,
        transport: Transport,
        storage: Storage,
        repo: GenerationsRepo,
        *,
        user_id: str,
        retry_wait: float = 300.0,
    ) -> None:
        self._transport = transport
        self._storage = storage
        self._repo = repo
        self._user_id = user_id
        self._retry_wait = retry_wait
        """How long a retried request waits for the first attempt with its key."""

    def create(
        self,
        model: ImageModel,
        prompt: str,
        *,
        aspect_ratio: str = "1:1",
        seed: int | None = None,
        idempotency_key: str | None = None,
        on_status: StatusCallback | None = None,
    ) -> Generation:
        """Make one image and save it; see the module docstring for the guarantees.

        A retried call with the same ``idempotency_key`` returns the first call's
        generation (or finishes it) and never charges twice.
        """
        request = ImageRequest(
            prompt=_validate.prompt(prompt),
            model=_validate.text(model.name, "model name"),
            aspect_ratio=_validate.aspect_ratio(aspect_ratio),
            seed=_validate.seed(seed),
        )
        _idempotency_key(idempotency_key)
        return self._run(
            request,
            idempotency_key,
            lambda: model.generate(request, on_status=on_status),
            on_status,
        )

    def save(
        self,
        prompt: str,
        image: bytes,
        *,
        model: str = "upload",
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Generation:
        """Save an image made elsewhere into the history (one credit, like a generation)."""
        from genvault._images import sniff_image_type

        if sniff_image_type(image) is None:
            raise InvalidInput(
                "the image given is not a PNG, JPEG, WebP or GIF file",
                hint="pass the bytes of an image file",
            )
        request = ImageRequest(
            prompt=_validate.prompt(prompt),
            model=_validate.text(model, "model name"),
            extra=dict(params or {}),
        )
        _validate.call_arguments("save", {"image_settings": request.extra})
        _idempotency_key(idempotency_key)
        result = ImageResult(data=image, content_type="application/octet-stream", model=model)
        return self._run(request, idempotency_key, lambda: result, None, uploaded=True)

    def _run(
        self,
        request: ImageRequest,
        idempotency_key: str | None,
        produce: Callable[[], ImageResult],
        on_status: StatusCallback | None,
        *,
        uploaded: bool = False,
    ) -> Generation:
        from genvault._images import ImageMetadata, thumbnail_webp, to_webp

        key = idempotency_key or uuid.uuid4().hex
        reservation = self._reserve(key)
        if not reservation["created"]:
            # A retry: another call with this key holds the reservation. Only one
            # attempt ever runs the model; this one waits for it and returns its work.
            return self._await_first_attempt(key, reservation)
        reservation_id = reservation["reservation_id"]
        # The database picks the id, so nobody can probe for another user's ids.
        generation_id = str(reservation["reserved_for"])

        written: list[str] = []
        try:
            if on_status:
                on_status("queued", "credit reserved")
            result: ImageResult = produce()
            if on_status:
                on_status("saving", "storing the image")
            created = datetime.now(UTC)
            metadata = ImageMetadata(
                prompt=request.prompt,
                model=result.model,
                seed=result.seed if result.seed is not None else request.seed,
                created_at=created,
                generation_id=generation_id,
                params=request.params(),
            )
            try:
                webp = to_webp(result.data, metadata=metadata)
            except ModelFailed as exc:
                if not uploaded:
                    raise
                # There is no model to blame for an upload: the bytes given are wrong.
                raise InvalidInput(
                    "the image given could not be read: it is damaged, too large, or not "
                    "a PNG, JPEG, WebP or GIF file",
                    hint="pass the bytes of a complete image file of at most 50 MB",
                ) from exc
            thumb = thumbnail_webp(webp)
            image_path = self._storage.key_for(self._user_id, generation_id, webp, ".webp")
            # Named after the image, not its own bytes: identical thumbnails of two
            # different images must not share one file.
            thumb_path = self._storage.key_for(self._user_id, generation_id, webp, ".thumb.webp")
            for path, data in ((image_path, webp), (thumb_path, thumb)):
                self._storage.put(path, data, "image/webp")
                written.append(path)
            params = request.params()
            if result.seed is not None:
                params["seed"] = result.seed
            if result.prediction_id:
                params["prediction_id"] = result.prediction_id
            rows = self._transport.rpc(
                "record_generation",
                {
                    "reservation_id": reservation_id,
                    "prompt": request.prompt,
                    "image_url": image_path,
                    "model": result.model,
                    "params": params,
                    "thumbnail_url": thumb_path,
                    "image_bytes": len(webp),
                    "image_sha256": hashlib.sha256(webp).hexdigest(),
                },
            )
        except BaseException:
            self._undo(reservation_id, written)
            raise
        generation = Generation.from_row(rows[0])
        # A content-addressed store shares identical files between rows; if a
        # concurrent delete of a twin removed the file meanwhile, put it back.
        for path, data in ((image_path, webp), (thumb_path, thumb)):
            if not self._storage.exists(path):
                self._storage.put(path, data, "image/webp")
        return generation

    def _reserve(self, key: str) -> dict[str, Any]:
        rows = self._transport.rpc("reserve_credit", {"idempotency_key": key})
        row: dict[str, Any] = rows[0]
        return row

    def _await_first_attempt(self, key: str, reservation: dict[str, Any]) -> Generation:
        """The generation of the first call with ``key``, once that call has settled."""
        deadline = time.monotonic() + self._retry_wait
        while reservation["status"] == "held":
            if time.monotonic() >= deadline:
                raise Conflict(
                    "an earlier request with this idempotency key is still running",
                    hint="try again later; an abandoned attempt is refunded by the expiry sweep",
                )
            time.sleep(0.2)
            reservation = self._reserve(key)
        if reservation["status"] == "refund":
            raise Conflict(
                "this request was cancelled and refunded before",
                hint="start a new generation (without reusing the idempotency key)",
            )
        return self._repo.get(str(reservation["reserved_for"]))

    def _undo(self, reservation_id: Any, written: list[str]) -> None:
        """Best effort after a failure: refund and remove unreferenced files.

        Whatever fails here is left for :func:`sweep`; the original error wins.
        """
        with contextlib.suppress(GenvaultError):
            self._transport.rpc("refund_credit", {"reservation_id": reservation_id}, scalar=True)
        if written:
            with contextlib.suppress(GenvaultError):
                self._storage.delete(self._repo.unreferenced(written))

    def sweep(self, *, older_than: timedelta | None = None) -> SweepResult:
        """Refund the user's reservations left unsettled for ``older_than`` (default:
        the database's reservation TTL) and remove stored files no row points at
        that are at least that old."""
        rows = self._transport.rpc("expire_reservations", {"older_than": older_than})
        age = (older_than if older_than is not None else timedelta(minutes=15)).total_seconds()
        cutoff = time.time() - age
        candidates = [o.path for o in self._storage.list(self._user_id) if o.modified <= cutoff]
        orphans = self._repo.unreferenced(candidates) if candidates else []
        if orphans:
            self._storage.delete(orphans)
        return SweepResult(refunded=len(rows), files_removed=len(orphans))


def _idempotency_key(key: str | None) -> None:
    """Refuse a key that is not text now, before a credit is reserved under it."""
    if key is not None:
        _validate.text(key, "idempotency key")
