"""REST posting on the fast listener: HTTP/1.1 kept alive, on h11 and plain Trio.

Why: profiled under closed-loop posting (`python -m bench.profile_rest`), a post through
Hypercorn spent about as much of the gateway's core in Hypercorn's per-request machinery (its
protocol wrapper and stream events, a task group and an app task per request, the idle-timeout
task restarted on every request) as in authenticating, validating and producing the message.
Here one task per connection reads, parses with httptools (llhttp, Node's C parser, as uvicorn
uses; h11 in pure Python cost a tenth of a post in parsing alone) and hands each request to
`PostRoutes`, the very ASGI routes the HTTP port serves in front of Quart: the same order of
checks, the same refusals, byte for byte the same bodies. One difference, on purpose: a client
that disconnects while its post awaits Kafka does not cancel the post (no watcher task per
request); the answer is lost, the outcome is the same as if it had been sent.

What this port answers over plain HTTP (the listener sends every request that does not begin
``POST `` to the WebSocket handshake, as before):

- ``POST /api/messages``, ``POST /messages`` and ``POST /api/threads/{id}/messages``;
- anything else: 404 ``not_found`` naming what this port serves, and the connection closes.

Kept alive until the client closes, ``KEEP_ALIVE_S`` without a request, or the drain: after
the drain began every answer is 503 + Retry-After + ``Connection: close`` (from the ingest),
and once requests went quiet (`gateway.http_drain.stop_when_quiet`, as on the HTTP port) the
connections that sit idle between requests are closed.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

import httptools
import trio

from gateway.fast_ingest import match_post_route
from gateway.http_drain import stop_when_quiet
from protocol.refusals import NotFound

if TYPE_CHECKING:
    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope

    from gateway.fast_ingest import PostRoutes

__all__ = ["KEEP_ALIVE_S", "FastPosts"]

log = logging.getLogger("parley.posts")

# A kept-alive connection without a request for this long is closed (Hypercorn's default is
# 5 s; a poster that pauses longer would pay a new connection each time).
KEEP_ALIVE_S = 30.0
# After the drain: close idle connections once no request began for this long, or at the cap.
_QUIET_S = 0.5
_QUIET_CAP_S = 3.0
_RECV_BYTES = 65_536
# Request line and headers (h11's own default is 16 KiB as well).
_MAX_HEAD_BYTES = 16_384
# Bytes of a pipelined next request read while the current one is answered, at most.
_MAX_PIPELINED = 65_536
_SERVES = "this port serves POST /api/messages and /api/threads/{thread_id}/messages, and /ws"


class FastPosts:
    """The plain-HTTP side of the fast listener (see `gateway.ws.listener`)."""

    def __init__(self, routes: PostRoutes, draining: trio.Event, *, secure: bool) -> None:
        self._routes = routes
        self._draining = draining
        self._scheme = "https" if secure else "http"
        self._idle: set[trio.CancelScope] = set()
        self._closing = False
        # For stop_when_quiet: when the last request began, and how many are being answered.
        self.in_flight = 0
        self.last_start = -float("inf")

    def quiet_for(self) -> float:
        return 0.0 if self.in_flight else trio.current_time() - self.last_start

    async def serve(self, stream: trio.abc.Stream, prefix: bytes) -> None:
        """Answer requests on ``stream`` until it closes; ``prefix`` was already read from it."""
        await _Connection(self, stream, prefix).run()

    async def drain(self) -> None:
        """After the drain began: once requests went quiet, close the idle connections."""
        await stop_when_quiet(self._draining, self, quiet_s=_QUIET_S, cap_s=_QUIET_CAP_S)
        self._closing = True
        for scope in list(self._idle):
            scope.cancel()


_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _HeadTooLarge(Exception):
    """A request line and headers over _MAX_HEAD_BYTES (answered 431)."""


class _Request:
    """One request as the parser delivered it: the head at once, the body as it arrives."""

    __slots__ = (
        "chunks",
        "complete",
        "expects_continue",
        "head_bytes",
        "headers",
        "keep_alive",
        "method",
        "url",
        "version",
    )

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_bytes = 0
        self.method = b""
        self.version = "1.1"
        self.keep_alive = True
        self.expects_continue = False
        self.chunks: deque[bytes] = deque()
        self.complete = False


class _Parsed:
    """httptools' callbacks: requests whose head is complete queue up in ``ready``, in order
    (a pipelining client may send several in one read)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.ready: deque[_Request] = deque()
        self._current = _Request()

    def feed(self, data: bytes) -> None:
        """Raises httptools.HttpParserError (malformed) or _HeadTooLarge."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                raise _HeadTooLarge from exc
            raise
        if not self._current.method and len(self._current.url) + self._current.head_bytes > (
            _MAX_HEAD_BYTES
        ):
            raise _HeadTooLarge

    def on_message_begin(self) -> None:
        self._current = _Request()

    def on_url(self, url: bytes) -> None:
        self._current.url += url
        self._grew(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._current.headers.append((name.lower(), value))
        self._grew(len(name) + len(value) + 4)

    def _grew(self, size: int) -> None:
        self._current.head_bytes += size
        if self._current.head_bytes > _MAX_HEAD_BYTES:
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        request, parser = self._current, self.parser
        request.method = parser.get_method()
        request.version = parser.get_http_version()
        request.keep_alive = parser.should_keep_alive()
        request.expects_continue = (b"expect", b"100-continue") in (
            (k, v.lower()) for k, v in request.headers
        )
        self.ready.append(request)

    def on_body(self, body: bytes) -> None:
        self._current.chunks.append(body)

    def on_message_complete(self) -> None:
        self._current.complete = True


class _Connection:
    def __init__(self, posts: FastPosts, stream: trio.abc.Stream, prefix: bytes) -> None:
        self.posts = posts
        self.stream = stream
        self.parsed = _Parsed()
        self.prefix = prefix
        self.peer_gone = False
        self.closes = False  # the answer said Connection: close
        address: Any = getattr(getattr(stream, "socket", None), "getpeername", lambda: None)()
        self.client = (address[0], address[1]) if isinstance(address, tuple) else None
        self._request = _Request()
        self._head: bytes = b""
        self._body_asked = False

    async def run(self) -> None:
        try:
            if self.prefix:
                self.parsed.feed(self.prefix)
            while not self.posts._closing:
                request = await self._next_request()
                if request is None:
                    return
                await self._answer(request)
                self.parsed.ready.popleft()
                if self.closes or self.peer_gone or not request.keep_alive:
                    return
                if not request.complete:
                    return  # answered before its body was read to the end
        except _HeadTooLarge:
            await self._respond(431, _error_json("bad_request", "request head too large"))
        except httptools.HttpParserError as exc:
            if not self._body_asked:  # nothing answered yet for the request that broke
                await self._respond(400, _error_json("bad_request", f"malformed request: {exc}"))

    async def _next_request(self) -> _Request | None:
        """The next request whose head is complete, or None: the peer closed, went idle for
        KEEP_ALIVE_S, or the drain closed idle connections."""
        ready = self.parsed.ready
        if ready:
            return ready[0]
        with trio.move_on_after(KEEP_ALIVE_S) as idle:
            self.posts._idle.add(idle)
            try:
                while not ready:
                    if not await self._fill():
                        return None
                return ready[0]
            finally:
                self.posts._idle.discard(idle)
        return None

    async def _fill(self) -> bool:
        """Read once and parse; False when the peer closed."""
        try:
            data = await self.stream.receive_some(_RECV_BYTES)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            self.peer_gone = True
            return False
        self.parsed.feed(data if type(data) is bytes else bytes(data))
        return True

    async def _answer(self, request: _Request) -> None:
        posts = self.posts
        posts.last_start = trio.current_time()
        posts.in_flight += 1
        self._request, self._body_asked = request, False
        try:
            target, _, query = request.url.partition(b"?")
            path = unquote(target.decode("ascii", "replace"))
            thread_id = match_post_route(path) if request.method == b"POST" else None
            if thread_id is None:
                await self._respond(NotFound.status, NotFound(_SERVES).to_json().encode())
                return
            # ASGI's typed events are TypedDicts; these callables build and read them as dicts.
            receive = cast("ASGIReceiveCallable", self._receive)
            send = cast("ASGISendCallable", self._send)
            scope = self._scope(request, path, target, query)
            await posts._routes.answer(
                scope, thread_id or None, receive, send, cancel_on_disconnect=False
            )
        finally:
            posts.in_flight -= 1

    def _scope(self, request: _Request, path: str, raw_path: bytes, query: bytes) -> HTTPScope:
        sock = getattr(self.stream, "socket", None)
        server = sock.getsockname()[:2] if sock is not None else None
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.version,
            "method": "POST",
            "scheme": self.posts._scheme,
            "path": path,
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": request.headers,
            "client": self.client,
            "server": server,
            "state": {},  # type: ignore[typeddict-item]
            "extensions": {},
        }

    async def _receive(self) -> dict[str, Any]:
        """ASGI receive: the body in chunks as they come, then nothing more."""
        request = self._request
        if not self._body_asked:
            self._body_asked = True
            if request.expects_continue and not request.complete and not request.chunks:
                await self._write(_CONTINUE)
        while not request.chunks and not request.complete:
            try:
                more = await self._fill()
            except (httptools.HttpParserError, _HeadTooLarge):
                more = False  # a broken body (chunked framing): nothing to answer it with
            if not more:
                self.closes = True
                return {"type": "http.disconnect"}
        if request.chunks:
            return {"type": "http.request", "body": request.chunks.popleft(), "more_body": True}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def _send(self, message: dict[str, Any]) -> None:
        """ASGI send: the head is held back and written with the body in one write."""
        if message["type"] == "http.response.start":
            status = int(message["status"])
            lines = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b""))]
            for name, value in message.get("headers", []):
                if name == b"connection" and value.lower() == b"close":
                    self.closes = True
                lines.append(b"%s: %s\r\n" % (name, value))
            if not self._request.keep_alive and not self.closes:
                self.closes = True
                lines.append(b"connection: close\r\n")
            lines.append(b"\r\n")
            self._head = b"".join(lines)
            return
        await self._write(self._head + message.get("body", b""))
        self._head = b""

    async def _write(self, data: bytes) -> None:
        if self.peer_gone:
            return
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.peer_gone = True

    async def _respond(self, status: int, body: bytes) -> None:
        """An answer of this port's own (not a post's): JSON, and the connection closes."""
        self.closes = True
        await self._send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await self._send({"type": "http.response.body", "body": body})


def _error_json(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()
