"""Image models on Replicate: create a prediction, wait for it, download the image.

The ``replicate`` client (1.x) supplies the authenticated HTTP session, with its
retries of rate-limited reads. The requests themselves are sent here and their
JSON read directly, because that client's prediction model rejects the newer
``aborted`` status, drops ``data_removed``, hides the ``Retry-After`` of a
refused create, and takes no per-request timeout. genvault needs all four to
put one deadline on a whole generation and to cancel what it started.

Replicate deletes the outputs of API predictions about an hour after they
finish, so the image is downloaded at once and kept by genvault.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import httpx
from replicate.client import Client

from genvault._exceptions import InvalidInput, ModelFailed
from genvault._imagegen import ImageRequest, ImageResult, Phase, StatusCallback
from genvault._images import MAX_IMAGE_BYTES, sniff_image_type
from genvault._model_factory import MODEL_REF

__all__ = ["DEFAULT_BASE_URL", "ReplicateModel"]

DEFAULT_BASE_URL = "https://api.replicate.com/v1"

_TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
_SEED_IN_LOGS = re.compile(r"Using seed: (\d+)")
_AUTH_HINT = "check REPLICATE_API_TOKEN (tokens are at https://replicate.com/account/api-tokens)"
_GONE_HINT = "Replicate deletes the outputs of API predictions about an hour after they finish"


class ReplicateModel:
    """An image model run on Replicate, such as black-forest-labs/flux-schnell.

    ``model`` is ``owner/name`` (an official model, which runs its latest
    version) or ``owner/name:version``. ``timeout`` bounds the whole run, from
    creating the prediction to its end; when it passes, or on
    KeyboardInterrupt, the prediction is cancelled on Replicate before the
    error is raised. ``wait`` (1 to 60 seconds) asks Replicate to hold the
    create request open until the prediction finishes; it saves a few polls on
    fast models, but a prediction whose create is interrupted cannot be
    cancelled, since its id is not known yet. ``backoff`` is the first pause
    before retrying a create that failed with a server error; it doubles each
    time.
    """

    offline: bool = False

    def __init__(
        self,
        token: str,
        *,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 300.0,
        poll_interval: float = 0.5,
        backoff: float = 0.5,
        wait: int | None = None,
        max_output_bytes: int = MAX_IMAGE_BYTES,
    ) -> None:
        match = MODEL_REF.match(model)
        if match is None:
            raise InvalidInput(
                f"model {model!r} is not a Replicate model name",
                hint="use owner/name or owner/name:version, e.g. black-forest-labs/flux-schnell",
            )
        if not token:
            raise InvalidInput(
                f"model {model} needs a Replicate API token", hint="set REPLICATE_API_TOKEN"
            )
        if timeout <= 0 or poll_interval <= 0 or backoff < 0:
            raise ValueError("timeout and poll_interval must be positive, backoff not negative")
        if wait is not None and not 1 <= wait <= 60:
            raise ValueError("wait must be between 1 and 60 seconds")
        self.name = model
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.backoff = backoff
        self.wait = wait
        self.max_output_bytes = max_output_bytes
        self._owner = match["owner"]
        self._model_name = match["name"]
        self._version = match["version"]
        self._token = token
        self._root = base_url.rstrip("/").removesuffix("/v1")

    def generate(
        self, request: ImageRequest, *, on_status: StatusCallback | None = None
    ) -> ImageResult:
        """Run the model on Replicate and return the image it made.

        Raises ModelFailed when the prediction fails, is cancelled or aborted,
        times out, or returns no usable image; InvalidInput when Replicate
        does not know the model or refuses the input.
        """
        deadline = time.monotonic() + self.timeout
        reporter = _Reporter(on_status, self.name)
        with self._session() as session:
            prediction = self._create(session, self._input(request), deadline)
            prediction_id: str = prediction["id"]
            finished = False
            try:
                reporter.saw(prediction)
                prediction = self._wait(session, prediction_id, prediction, deadline, reporter)
                finished = True
            finally:
                if not finished:
                    self._cancel(session, prediction_id)
        status = prediction.get("status")
        error = prediction.get("error") or "Replicate gave no reason"
        if status == "failed":
            raise ModelFailed(f"{self.name} failed on Replicate: {error}", code="failed")
        if status == "aborted":
            raise ModelFailed(
                f"Replicate aborted the prediction before it started: {error}", code="aborted"
            )
        if status == "canceled":
            raise ModelFailed(
                f"the prediction {prediction_id} was cancelled on Replicate", code="canceled"
            )
        url = _output_url(prediction)
        data = self._download(url, deadline=time.monotonic() + self.timeout)
        content_type = sniff_image_type(data)
        if content_type is None:
            raise ModelFailed("the model returned something that is not an image")
        return ImageResult(
            data=data,
            content_type=content_type,
            model=self.name,
            prediction_id=prediction_id,
            seed=_seed(prediction, request.seed),
        )

    def _input(self, request: ImageRequest) -> dict[str, Any]:
        """The model input: flux-style names, asking for one WebP image."""
        body: dict[str, Any] = dict(request.extra)
        body.update(
            prompt=request.prompt,
            aspect_ratio=request.aspect_ratio,
            output_format="webp",
            num_outputs=1,
        )
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    # -- HTTP ----------------------------------------------------------------

    def _session(self) -> httpx.Client:
        """A new HTTP session from the replicate client: base URL, bearer token,
        user agent and retries of rate-limited GETs. One per generation, closed
        at its end, so no connection outlives it."""
        client = Client(
            api_token=self._token,
            base_url=self._root,
            timeout=httpx.Timeout(min(self.timeout, 30.0), connect=min(self.timeout, 10.0)),
        )
        session: httpx.Client = client._client
        return session

    def _create(
        self, session: httpx.Client, model_input: dict[str, Any], deadline: float
    ) -> dict[str, Any]:
        """Create the prediction, retrying 429 (after Retry-After) and 5xx (with
        exponential backoff) until the deadline.

        The replicate client never retries a create. Retrying after a 5xx could
        start a second prediction if the server failed after accepting the
        first; that is taken as the lesser risk against failing the generation.
        A create that times out is not retried: it may well be running.
        """
        if self._version:
            path = "/v1/predictions"
            body: dict[str, Any] = {"version": self._version, "input": model_input}
        else:
            owner, name = quote(self._owner, safe=""), quote(self._model_name, safe="")
            path = f"/v1/models/{owner}/{name}/predictions"
            body = {"input": model_input}
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(None)
            # Never ask the server to hold the request past the deadline.
            hold = min(self.wait or 0, int(remaining))
            headers = {"Prefer": f"wait={hold}"} if hold >= 1 else {}
            try:
                response = session.post(
                    path,
                    json=body,
                    headers=headers,
                    timeout=self._timeout(remaining, hold=hold),
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # The request never left: safe to try again.
                delay = self.backoff * 2**attempt
                if time.monotonic() + delay >= deadline:
                    raise ModelFailed(
                        f"could not reach Replicate at {self._root}",
                        hint="check the network, or REPLICATE_BASE_URL",
                    ) from exc
            except httpx.TimeoutException as exc:
                raise ModelFailed(
                    "Replicate did not answer in time",
                    hint="the prediction may have started; check replicate.com/predictions",
                ) from exc
            except httpx.TransportError as exc:
                raise ModelFailed(
                    f"the connection to Replicate failed: {exc}",
                    hint="the prediction may have started; check replicate.com/predictions",
                ) from exc
            else:
                if response.status_code < 400:
                    prediction = _json(response)
                    if not isinstance(prediction.get("id"), str) or not prediction["id"]:
                        raise ModelFailed("Replicate answered a create without a prediction id")
                    return prediction
                if response.status_code == 429:
                    delay = _retry_after(response, self.backoff * 2**attempt)
                    if time.monotonic() + delay >= deadline:
                        raise ModelFailed(
                            f"Replicate is limiting the rate of requests; "
                            f"try again in {math.ceil(delay)} s",
                            code="429",
                        )
                elif response.status_code >= 500:
                    delay = self.backoff * 2**attempt
                    if time.monotonic() + delay >= deadline:
                        self._raise_for(response, creating=True)
                else:
                    self._raise_for(response, creating=True)
            attempt += 1
            time.sleep(delay)

    def _wait(
        self,
        session: httpx.Client,
        prediction_id: str,
        prediction: dict[str, Any],
        deadline: float,
        reporter: _Reporter,
    ) -> dict[str, Any]:
        """Poll until the prediction ends; raise ModelFailed when the deadline passes.

        Transient trouble (5xx, a dropped connection) is polled through.
        """
        path = f"/v1/predictions/{quote(prediction_id, safe='')}"
        while prediction.get("status") not in _TERMINAL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(prediction_id)
            time.sleep(min(self.poll_interval, remaining))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(prediction_id)
            try:
                response = session.get(path, timeout=self._timeout(remaining))
            except httpx.TransportError:
                continue
            if response.status_code >= 500 or response.status_code == 429:
                continue
            if response.status_code >= 400:
                self._raise_for(response, creating=False)
            prediction = _json(response)
            reporter.saw(prediction)
        return prediction

    def _cancel(self, session: httpx.Client, prediction_id: str) -> None:
        """Ask Replicate to stop the prediction. Best effort: this runs while
        another error is on its way out, and that error is the one to report."""
        path = f"/v1/predictions/{quote(prediction_id, safe='')}/cancel"
        with contextlib.suppress(httpx.HTTPError):
            session.post(path, timeout=self._timeout(5.0))

    def _download(self, url: str, *, deadline: float) -> bytes:
        """The output file's bytes, refusing more than ``max_output_bytes``."""
        if url.startswith("data:"):
            return self._decode_data_url(url)
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ModelFailed(f"the model returned an output that is not a file URL: {url[:80]}")
        headers = {}
        # Replicate's own hosts may need the token; no other host gets it.
        api_host = urlsplit(self._root).hostname
        if parts.hostname == api_host or _is_delivery_host(parts.hostname):
            headers["Authorization"] = f"Bearer {self._token}"
        too_big = self._too_big()
        try:
            with (
                httpx.Client(timeout=self._timeout(30.0), follow_redirects=True) as client,
                client.stream("GET", url, headers=headers) as response,
            ):
                if response.status_code in (404, 410):
                    raise ModelFailed(
                        "the output of the prediction is gone (its URL answers "
                        f"{response.status_code})",
                        hint=_GONE_HINT,
                        code=str(response.status_code),
                    )
                if response.status_code >= 400:
                    raise ModelFailed(
                        f"could not download the output: HTTP {response.status_code}",
                        code=str(response.status_code),
                    )
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > self.max_output_bytes:
                    raise too_big
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > self.max_output_bytes:
                        raise too_big
                    if time.monotonic() > deadline:
                        raise ModelFailed(
                            f"downloading the output took more than {self.timeout:g} s"
                        )
                return bytes(data)
        except httpx.HTTPError as exc:
            raise ModelFailed(
                f"could not download the output: {exc}", hint="check the network"
            ) from exc

    def _decode_data_url(self, url: str) -> bytes:
        header, _, payload = url.partition(",")
        if len(payload) > self.max_output_bytes * 4 // 3 + 4:
            raise self._too_big()
        if not header.endswith(";base64"):
            raise ModelFailed("the model returned a data URL that is not base64")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ModelFailed("the model returned a damaged data URL") from exc

    def _too_big(self) -> ModelFailed:
        return ModelFailed(
            f"the output of {self.name} is larger than "
            f"{self.max_output_bytes / (1024 * 1024):g} MB; genvault refuses it"
        )

    def _timeout(self, seconds: float, *, hold: float = 0) -> httpx.Timeout:
        """Timeouts for one request that should end within ``seconds``; ``hold``
        is how long the server may keep it open on purpose (``Prefer: wait``)."""
        seconds = max(0.1, seconds)
        return httpx.Timeout(min(seconds, 30.0 + hold), connect=min(seconds, 10.0))

    def _timed_out(self, prediction_id: str | None) -> ModelFailed:
        what = f"the prediction {prediction_id} was cancelled" if prediction_id else "gave up"
        return ModelFailed(
            f"{self.name} did not finish within {self.timeout:g} s; {what}",
            hint="try again, or raise GENVAULT_MODEL_TIMEOUT",
            code="timeout",
        )

    def _raise_for(self, response: httpx.Response, *, creating: bool) -> NoReturn:
        """Turn an error answer into the genvault error a person can act on."""
        status = response.status_code
        detail = _problem_detail(response)
        code = str(status)
        if status == 401:
            raise ModelFailed("Replicate refused the API token", hint=_AUTH_HINT, code=code)
        if status == 402:
            raise ModelFailed(
                f"Replicate refused to run {self.name}: {detail}",
                hint="add credit to the Replicate account",
                code=code,
            )
        if creating and status == 404:
            raise InvalidInput(
                f"Replicate has no model {self.name}",
                hint="check the name on replicate.com; official models run as owner/name, "
                "others need owner/name:version",
                code=code,
            )
        if creating and status in (400, 422):
            raise InvalidInput(f"Replicate refused to run {self.name}: {detail}", code=code)
        raise ModelFailed(f"Replicate answered {status}: {detail}", code=code)


class _Reporter:
    """Calls ``on_status`` once each time the prediction enters a new phase."""

    def __init__(self, on_status: StatusCallback | None, model: str) -> None:
        self._on_status = on_status
        self._model = model
        self._last: Phase | None = None

    def saw(self, prediction: dict[str, Any]) -> None:
        status = prediction.get("status")
        if status == "starting":
            self._report("queued", "waiting for Replicate to start the model")
        elif status == "processing":
            self._report("running", f"running {self._model} on Replicate")

    def _report(self, phase: Phase, detail: str) -> None:
        if self._on_status is not None and phase != self._last:
            self._last = phase
            self._on_status(phase, detail)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ModelFailed(f"Replicate answered {response.status_code} with no JSON") from exc
    if not isinstance(body, dict):
        raise ModelFailed("Replicate answered with something that is not a prediction")
    return body


def _problem_detail(response: httpx.Response) -> str:
    """The ``detail`` (else ``title``) of a problem-details body, whatever its
    content type; the reason phrase when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "title"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    return response.reason_phrase or f"HTTP {response.status_code}"


def _retry_after(response: httpx.Response, fallback: float) -> float:
    """Seconds to wait before retrying: the Retry-After header (seconds or an
    HTTP date), else ``retry_after`` in the body, else ``fallback``."""
    value = response.headers.get("retry-after", "").strip()
    if value:
        try:
            seconds = float(value)
        except ValueError:
            pass
        else:
            return max(0.0, seconds) if math.isfinite(seconds) else fallback
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            pass
        else:
            return max(0.0, when.timestamp() - time.time())
    try:
        body = response.json()
    except ValueError:
        return fallback
    given = body.get("retry_after") if isinstance(body, dict) else None
    if isinstance(given, int | float) and math.isfinite(given):
        return max(0.0, float(given))
    return fallback


def _output_url(prediction: dict[str, Any]) -> str:
    """The first output file of a succeeded prediction."""
    output = prediction.get("output")
    if prediction.get("data_removed") or output is None:
        raise ModelFailed(
            f"the output of the prediction {prediction.get('id')} is gone", hint=_GONE_HINT
        )
    if isinstance(output, list):
        output = output[0] if output else None
    if not isinstance(output, str) or not output:
        raise ModelFailed("the model returned no image file")
    return output


def _seed(prediction: dict[str, Any], requested: int | None) -> int | None:
    """The seed the model used: the requested one, else the one it logged."""
    if requested is not None:
        return requested
    logs = prediction.get("logs")
    if isinstance(logs, str) and (found := _SEED_IN_LOGS.search(logs)):
        return int(found.group(1))
    return None


def _is_delivery_host(host: str) -> bool:
    return host == "replicate.delivery" or host.endswith(".replicate.delivery")
