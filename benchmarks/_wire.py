"""Counting database round trips: a small TCP proxy in front of PostgreSQL.

A round trip is one turn of the conversation: the client sends, then waits for
the server to answer. The proxy sees every byte in both directions in the order
they pass, so it counts a round trip each time the server starts answering
after the client has sent something since the server's previous answer. A
client that pipelines (sends several statements, then reads) therefore counts
once per wait, however many statements it sent; a client that waits after each
statement counts once per statement. If a pipelined client's writes and the
server's answers were to interleave, the count could only go up, never down,
so the figure is an upper bound.

The proxy also counts the protocol messages the client sends that make the
server answer: Sync (end of an extended-protocol batch) and Query (a
simple-protocol statement).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from dataclasses import dataclass, field

__all__ = ["RoundTripCounter"]

_UNTYPED_REQUESTS = {80877103, 80877104, 80877102}  # SSL, GSSENC, cancel request codes


@dataclass
class _Pair:
    client: socket.socket
    server: socket.socket
    client_spoke: bool = False
    startup: bool = True
    pending: bytearray = field(default_factory=bytearray)


class RoundTripCounter:
    """A proxy that forwards to ``upstream`` and counts round trips and messages.

    ``upstream`` is ("host", port) for TCP or a path to a Unix socket. Use
    :attr:`url_params` to connect through it, :meth:`reset` before the part to
    measure, then read :attr:`round_trips` and :attr:`messages`.
    """

    def __init__(self, upstream: tuple[str, int] | str) -> None:
        self._upstream = upstream
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.round_trips = 0
        self.messages: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name="round-trip-counter", daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def start(self) -> RoundTripCounter:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()

    def __enter__(self) -> RoundTripCounter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.round_trips = 0
            self.messages = {}

    def snapshot(self) -> tuple[int, dict[str, int]]:
        with self._lock:
            return self.round_trips, dict(self.messages)

    # -- the proxy loop ---------------------------------------------------------
    def _connect_upstream(self) -> socket.socket:
        if isinstance(self._upstream, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self._upstream)
        else:
            sock = socket.create_connection(self._upstream)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                if key.data is None:
                    self._accept()
                    continue
                pair, from_client = key.data
                self._forward(pair, from_client)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server = self._connect_upstream()
        pair = _Pair(client, server)
        self._selector.register(client, selectors.EVENT_READ, (pair, True))
        self._selector.register(server, selectors.EVENT_READ, (pair, False))

    def _forward(self, pair: _Pair, from_client: bool) -> None:
        source, target = (pair.client, pair.server) if from_client else (pair.server, pair.client)
        try:
            data = source.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            for sock in (pair.client, pair.server):
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(sock)
                sock.close()
            return
        with self._lock:
            if from_client:
                pair.client_spoke = True
                self._parse_client(pair, data)
            elif pair.client_spoke:
                pair.client_spoke = False
                self.round_trips += 1
        with contextlib.suppress(OSError):
            target.sendall(data)

    def _parse_client(self, pair: _Pair, data: bytes) -> None:
        buf = pair.pending
        buf.extend(data)
        while True:
            if pair.startup:
                if len(buf) < 8:
                    return
                length, code = struct.unpack("!ii", buf[:8])
                if len(buf) < length:
                    return
                del buf[:length]
                if code not in _UNTYPED_REQUESTS:
                    pair.startup = False
                continue
            if len(buf) < 5:
                return
            kind = chr(buf[0])
            (length,) = struct.unpack("!i", buf[1:5])
            if len(buf) < 1 + length:
                return
            del buf[: 1 + length]
            self.messages[kind] = self.messages.get(kind, 0) + 1
