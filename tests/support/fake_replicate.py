"""A local stand-in for Replicate's HTTP API, for tests.

It follows the shapes of Replicate's OpenAPI schema for the calls genvault
makes (create a prediction for an official model or a version, read one,
cancel one) plus the newer ``aborted`` status and ``data_removed`` field, and
it serves the output files itself. Each test scripts how the next predictions
behave through :class:`Script`, and reads back every request it received.

    with serve() as fake:
        fake.script.processing_polls = 2
        model = ReplicateModel(fake.token, model=FLUX, base_url=fake.api_url, ...)

Or use the ``fake_replicate`` fixture of tests/conftest.py.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from PIL import Image

FLUX = "black-forest-labs/flux-schnell"
FLUX_VERSION = "c846a69991daf4c0e5d016514849d14ee5b2e6846ce6b9d6f722d1ed0bd3e1ab"
TOKEN = "r8_fake_token_for_tests"
ASPECT_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
_TERMINAL = ("succeeded", "failed", "canceled", "aborted")
_CREATE_KEYS = {"input", "stream", "webhook", "webhook_completed", "webhook_events_filter"}
_PREFER = re.compile(r"^wait(=([1-9]|[1-9][0-9]|60))?$")

Outcome = Literal["succeeded", "failed", "aborted", "canceled", "hang"]


def sample_webp(color: tuple[int, int, int] = (30, 120, 200), size: int = 64) -> bytes:
    """A small, real WebP image: what flux-schnell returns, in miniature."""
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, "WEBP", quality=80)
    return out.getvalue()


@dataclass
class Script:
    """How the fake behaves for the predictions created from now on."""

    starting_polls: int = 0
    """GETs answered "starting" after the create (which always answers "starting")."""
    processing_polls: int = 1
    """GETs answered "processing" before the outcome."""
    outcome: Outcome = "succeeded"
    """"hang" stays "processing" until the prediction is cancelled."""
    error: str = "CUDA out of memory"
    """The prediction's error when the outcome is failed or aborted."""
    logs: str = "Using seed: 4242\n"
    create_429: int = 0
    """The first K creates are refused with 429 and ``Retry-After: retry_after``."""
    retry_after: str | None = "0"
    create_500: int = 0
    """The first K creates (after any 429s) fail with 500."""
    poll_delay: float = 0.0
    """Seconds each GET of a prediction takes to answer."""
    poll_500: int = 0
    """The first K GETs of a prediction fail with 500 (and do not move it on)."""
    output: bytes = field(default_factory=sample_webp)
    output_content_type: str = "image/webp"
    output_status: int = 200
    """404 makes the output URL behave as expired."""
    output_size: int | None = None
    """Serve this many bytes (of nonsense) instead of ``output``."""
    output_chunked: bool = False
    """Stream the output without a Content-Length."""
    output_as_string: bool = False
    """``output`` is the URL itself rather than a list of URLs."""
    output_as_data_url: bool = False
    """``output`` is a base64 data URL instead of a file URL."""
    output_base: str | None = None
    """Where output URLs point instead of this server (e.g. another host name for it)."""
    data_removed: bool = False
    """Succeed with ``output: null`` and ``data_removed: true``, as an hour later."""


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: Any
    """The JSON body, or None."""


@dataclass
class _Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    script: Script
    created_at: str
    status: str = "starting"
    polls: int = 0
    failed_polls: int = 0
    completed_at: str | None = None


class FakeReplicate:
    """The server's state: scripts, predictions and the record of requests."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.script = Script()
        self.models: set[str] = {FLUX}
        self.versions: dict[str, str] = {FLUX_VERSION: FLUX}
        self.requests: list[Recorded] = []
        self.predictions: dict[str, _Prediction] = {}
        self._creates = 0
        self._lock = threading.Lock()
        self._cancelled = threading.Condition(self._lock)
        self._connections: set[socket.socket] = set()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self.api_url = f"{self.url}/v1"
        """What REPLICATE_BASE_URL is set to in tests."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections, self._connections = self._connections, set()
            self._cancelled.notify_all()
        for conn in connections:  # keep-alive connections a client left open
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    # -- what tests read --------------------------------------------------------

    def calls(self, method: str, path_prefix: str = "/") -> list[Recorded]:
        """The requests with this method whose path starts with ``path_prefix``."""
        with self._lock:
            return [
                r for r in self.requests if r.method == method and r.path.startswith(path_prefix)
            ]

    def creates(self) -> list[Recorded]:
        """Every create request, whether it succeeded or not."""
        return [r for r in self.calls("POST", "/v1/") if r.path.endswith("/predictions")]

    def cancels(self) -> list[Recorded]:
        return [r for r in self.calls("POST", "/v1/predictions/") if r.path.endswith("/cancel")]

    def polls(self) -> list[Recorded]:
        return self.calls("GET", "/v1/predictions/")

    def status(self, prediction_id: str) -> str:
        with self._lock:
            return self.predictions[prediction_id].status

    # -- the API ----------------------------------------------------------------

    def handle(self, req: _Request) -> None:
        with self._lock:
            self.requests.append(Recorded(req.method, req.path, req.headers, req.json))
        path = req.path.split("?", 1)[0]
        if path.startswith("/files/"):
            self._serve_file(req, path)
            return
        if not path.startswith("/v1/"):
            req.problem(404, "Not found", "The requested resource could not be found.")
            return
        if req.headers.get("authorization") != f"Bearer {self.token}":
            req.problem(401, "Unauthenticated", "You did not pass a valid authentication token")
            return
        parts = path.strip("/").split("/")
        if req.method == "POST" and len(parts) == 5 and parts[1] == "models":
            if parts[4] != "predictions":
                req.problem(404, "Not found", "The requested resource could not be found.")
                return
            self._create(req, model=f"{parts[2]}/{parts[3]}", version=None)
        elif req.method == "POST" and parts == ["v1", "predictions"]:
            self._create(req, model=None, version=_get(req.json, "version"))
        elif req.method == "GET" and len(parts) == 3 and parts[1] == "predictions":
            self._get(req, parts[2])
        elif req.method == "POST" and len(parts) == 4 and parts[3] == "cancel":
            self._cancel(req, parts[2])
        else:
            req.problem(404, "Not found", "The requested resource could not be found.")

    def _create(self, req: _Request, *, model: str | None, version: Any) -> None:
        with self._lock:
            self._creates += 1
            attempt = self._creates
            script = self.script
        if attempt <= script.create_429:
            headers = {"Retry-After": script.retry_after} if script.retry_after else {}
            seconds = float(script.retry_after or 1)
            req.problem(
                429,
                "Request was throttled.",
                f"Request was throttled. Expected available in {seconds:g} second.",
                headers=headers,
                retry_after=seconds,
            )
            return
        if attempt <= script.create_429 + script.create_500:
            req.problem(500, "Internal Server Error", "Something went wrong on our end.")
            return
        if model is not None and model not in self.models:
            req.problem(404, "Not found", "The requested resource could not be found.")
            return
        if model is None:
            if not isinstance(version, str) or version not in self.versions:
                req.problem(
                    422,
                    "Invalid version or not permitted",
                    "The specified version does not exist (or perhaps you don't have "
                    "permission to use it?)",
                )
                return
            model = self.versions[version]
        problem = _check_body(req.json, allowed=_CREATE_KEYS | ({"version"} if version else set()))
        if problem:
            req.problem(422, "Input validation failed", problem)
            return
        prefer = req.headers.get("prefer")
        if prefer is not None and not _PREFER.match(prefer):
            req.problem(400, "Invalid Prefer header", f"Prefer header {prefer!r} is not valid")
            return
        prediction = _Prediction(
            id=base64.b32encode(os.urandom(16)).decode().lower().rstrip("=")[:26],
            model=model,
            version=version or FLUX_VERSION,
            input=req.json["input"],
            script=script,
            created_at=_now(),
        )
        with self._lock:
            self.predictions[prediction.id] = prediction
        if prefer is not None:
            # Sync mode: run to the end at once, or hold up to n seconds while it hangs.
            wait = int(prefer.partition("=")[2] or 60)
            with self._lock:
                if script.outcome == "hang":
                    prediction.status = "processing"
                    self._cancelled.wait_for(lambda: prediction.status == "canceled", wait)
                else:
                    prediction.polls = script.starting_polls + script.processing_polls + 1
                    self._advance(prediction)
                body = self._json(prediction)
            req.send_json(201 if prediction.status in _TERMINAL else 202, body)
            return
        with self._lock:
            body = self._json(prediction)
        req.send_json(202, body)

    def _get(self, req: _Request, prediction_id: str) -> None:
        with self._lock:
            prediction = self.predictions.get(prediction_id)
            delay = prediction.script.poll_delay if prediction else 0
        if delay:
            time.sleep(delay)
        with self._lock:
            if prediction is None:
                req.problem(404, "Not found", "The requested resource could not be found.")
                return
            if prediction.failed_polls < prediction.script.poll_500:
                prediction.failed_polls += 1
                req.problem(500, "Internal Server Error", "Something went wrong on our end.")
                return
            if prediction.status not in _TERMINAL:
                prediction.polls += 1
                self._advance(prediction)
            body = self._json(prediction)
        req.send_json(200, body)

    def _cancel(self, req: _Request, prediction_id: str) -> None:
        with self._lock:
            prediction = self.predictions.get(prediction_id)
            if prediction is None:
                req.problem(404, "Not found", "The requested resource could not be found.")
                return
            if prediction.failed_polls < prediction.script.poll_500:
                prediction.failed_polls += 1
                req.problem(500, "Internal Server Error", "Something went wrong on our end.")
                return
            if prediction.status not in _TERMINAL:
                prediction.status = "canceled"
                prediction.completed_at = _now()
                self._cancelled.notify_all()
            body = self._json(prediction)
        req.send_json(200, body)

    def _advance(self, p: _Prediction) -> None:
        """Move a prediction on by its script, given how often it was read."""
        s = p.script
        if p.polls <= s.starting_polls:
            p.status = "starting"
        elif p.polls <= s.starting_polls + s.processing_polls or s.outcome == "hang":
            p.status = "processing"
        else:
            p.status = s.outcome
            p.completed_at = _now()

    def _json(self, p: _Prediction) -> dict[str, Any]:
        """The prediction object as Replicate returns it."""
        s = p.script
        done = p.status in _TERMINAL
        output: Any = None
        removed = done and s.data_removed
        if p.status == "succeeded" and not removed:
            url = f"{s.output_base or self.url}/files/{p.id}/out-0.webp"
            if s.output_as_data_url:
                url = f"data:{s.output_content_type};base64,{base64.b64encode(s.output).decode()}"
            output = url if s.output_as_string else [url]
        api = f"{self.api_url}/predictions/{p.id}"
        return {
            "id": p.id,
            "model": p.model,
            "version": p.version,
            "input": {} if removed else p.input,
            "logs": "" if removed or p.status == "starting" else s.logs,
            "output": output,
            "data_removed": removed,
            "error": s.error if p.status in ("failed", "aborted") else None,
            "status": p.status,
            "source": "api",
            "created_at": p.created_at,
            "started_at": p.created_at if p.status != "starting" else None,
            "completed_at": p.completed_at,
            "metrics": {"predict_time": 0.71} if done else {},
            "urls": {
                "get": api,
                "cancel": f"{api}/cancel",
                "stream": f"{self.url}/stream/{p.id}",
                "web": f"https://replicate.com/p/{p.id}",
            },
        }

    def _serve_file(self, req: _Request, path: str) -> None:
        prediction_id = path.split("/")[2] if path.count("/") >= 3 else ""
        with self._lock:
            prediction = self.predictions.get(prediction_id)
        if prediction is None or prediction.script.output_status == 404:
            req.send_raw(404, b"Not Found", "text/plain")
            return
        s = prediction.script
        if s.output_status != 200:
            req.send_raw(s.output_status, b"error", "text/plain")
            return
        if s.output_size is not None:
            req.send_stream(s.output_size, s.output_content_type, chunked=s.output_chunked)
        else:
            req.send_raw(200, s.output, s.output_content_type)


@dataclass
class _Request:
    handler: BaseHTTPRequestHandler
    method: str
    path: str
    headers: dict[str, str]
    json: Any

    def send_json(self, status: int, body: Any, content_type: str = "application/json") -> None:
        self.send_raw(status, json.dumps(body).encode(), content_type)

    def problem(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        """An RFC 7807 problem-details answer, as Replicate sends for errors."""
        body = {
            "type": f"https://replicate.com/docs/reference/http#{status}",
            "title": title,
            "status": status,
            "detail": detail,
            **extra,
        }
        self.send_raw(
            status, json.dumps(body).encode(), "application/problem+json", headers=headers
        )

    def send_raw(
        self,
        status: int,
        data: bytes,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        with suppress(ConnectionError):
            h.wfile.write(data)

    def send_stream(self, size: int, content_type: str, *, chunked: bool) -> None:
        h = self.handler
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(size))
        h.end_headers()
        block = b"\0" * (256 * 1024)
        sent = 0
        try:
            while sent < size:
                piece = block[: min(len(block), size - sent)]
                if chunked:
                    h.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                else:
                    h.wfile.write(piece)
                sent += len(piece)
            if chunked:
                h.wfile.write(b"0\r\n\r\n")
        except ConnectionError:
            h.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up early is part of the tests


def _handler(fake: FakeReplicate) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def setup(self) -> None:
            super().setup()
            fake._opened(self.connection)

        def finish(self) -> None:
            fake._closed(self.connection)
            with suppress(OSError):
                super().finish()

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake.handle(_Request(self, self.command, self.path, headers, body))

        do_GET = do_POST = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _check_body(body: Any, *, allowed: set[str]) -> str | None:
    """Why a create body breaks the schema (and flux-schnell's inputs), or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    unknown = sorted(set(body) - allowed)
    if unknown:
        return f"Additional property {unknown[0]} is not allowed"
    model_input = body.get("input")
    if not isinstance(model_input, dict):
        return "input is required and must be an object"
    if not isinstance(model_input.get("prompt"), str):
        return "- input: prompt is required"
    checks: list[tuple[str, Any]] = [
        ("aspect_ratio", lambda v: v in ASPECT_RATIOS),
        ("output_format", lambda v: v in ("webp", "jpg", "png")),
        ("num_outputs", lambda v: isinstance(v, int) and 1 <= v <= 4),
        ("seed", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    ]
    for name, ok in checks:
        if name in model_input and not ok(model_input[name]):
            return f"- input.{name}: {model_input[name]!r} is not valid"
    return None


def _get(body: Any, key: str) -> Any:
    return body.get(key) if isinstance(body, dict) else None


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@contextmanager
def serve(token: str = TOKEN) -> Iterator[FakeReplicate]:
    """Run a fake Replicate on 127.0.0.1 (a free port) for the ``with`` block."""
    fake = FakeReplicate(token)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
