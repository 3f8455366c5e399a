"""REST posting on the fast listener: HTTP/1.1 kept alive, on h11 and plain Trio.

Why: profiled under closed-loop posting (`python -m bench.profile_rest`), a post through
Hypercorn spent about as much of the gateway's core in Hypercorn's per-request machinery (its
protocol wrapper and stream events, a task group and an app task per request, the idle-timeout
task restarted on every request) as in authenticating, validating and producing the message.
Here one task per connection reads, parses with h11 (the library Hypercorn itself uses) and
hands each request to `PostRoutes`, the very ASGI routes the HTTP port serves in front of
Quart: the same order of checks, the same refusals, byte for byte the same bodies.

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

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

import h11
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


class _Disconnected(Exception):
    """The peer closed, or sent something h11 refuses after its request began."""


class _Connection:
    def __init__(self, posts: FastPosts, stream: trio.abc.Stream, prefix: bytes) -> None:
        self.posts = posts
        self.stream = stream
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD_BYTES)
        self.h11.receive_data(prefix)
        # Watching for a disconnect while a post awaits Kafka reads ahead of the next request:
        # only on plain TCP (a cancelled read leaves a TLS stream unusable).
        self.watch_disconnect = isinstance(stream, trio.SocketStream)
        self.peer_gone = False
        self._head: h11.Response | None = None
        address: Any = getattr(getattr(stream, "socket", None), "getpeername", lambda: None)()
        self.client = (address[0], address[1]) if isinstance(address, tuple) else None

    async def run(self) -> None:
        while not self.posts._closing:
            request = await self._next_request()
            if request is None:
                return
            await self._answer(request)
            if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
                return  # Connection: close on either side, or the body was not read to its end
            self.h11.start_next_cycle()

    async def _next_request(self) -> h11.Request | None:
        """The next request's head, or None: the peer closed, went idle too long, sent garbage
        (answered 400/431 first), or the drain closed idle connections."""
        with trio.move_on_after(KEEP_ALIVE_S) as idle:
            self.posts._idle.add(idle)
            try:
                while True:
                    try:
                        event = self.h11.next_event()
                    except h11.RemoteProtocolError as exc:
                        await self._refuse_malformed(exc)
                        return None
                    if isinstance(event, h11.Request):
                        return event
                    if event is not h11.NEED_DATA:
                        return None  # ConnectionClosed, or a PAUSED left over
                    if not await self._read():
                        return None
            finally:
                self.posts._idle.discard(idle)
        return None

    async def _read(self) -> bool:
        try:
            data = await self.stream.receive_some(_RECV_BYTES)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        self.h11.receive_data(bytes(data) if data else b"")
        return bool(data)

    async def _answer(self, request: h11.Request) -> None:
        posts = self.posts
        posts.last_start = trio.current_time()
        posts.in_flight += 1
        try:
            target, _, query = request.target.partition(b"?")
            path = unquote(target.decode("ascii", "replace"))
            thread_id = match_post_route(path) if request.method == b"POST" else None
            if thread_id is None:
                await self._not_ours()
                return
            scope = self._scope(request, path, target, query)
            # ASGI's typed events are TypedDicts; these callables build and read them as dicts.
            receive = cast("ASGIReceiveCallable", self._receive)
            send = cast("ASGISendCallable", self._send)
            await posts._routes.answer(scope, thread_id or None, receive, send)
        finally:
            posts.in_flight -= 1

    def _scope(self, request: h11.Request, path: str, raw_path: bytes, query: bytes) -> HTTPScope:
        sock = getattr(self.stream, "socket", None)
        server = sock.getsockname()[:2] if sock is not None else None
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version.decode(),
            "method": "POST",
            "scheme": self.posts._scheme,
            "path": path,
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": list(request.headers),
            "client": self.client,
            "server": server,
            "state": {},  # type: ignore[typeddict-item]
            "extensions": {},
        }

    async def _receive(self) -> dict[str, Any]:
        """ASGI receive: the body in chunks, then (as a disconnect watcher) the peer's close."""
        conn = self.h11
        if conn.their_state is h11.SEND_BODY:
            if conn.they_are_waiting_for_100_continue:
                await self._write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError:
                    return self._gone()
                if isinstance(event, h11.Data):
                    return {"type": "http.request", "body": bytes(event.data), "more_body": True}
                if isinstance(event, h11.EndOfMessage):
                    return {"type": "http.request", "body": b"", "more_body": False}
                if event is h11.NEED_DATA and await self._read():
                    continue
                return self._gone()
        # The body was read: only a disconnect is left to report.
        if self.watch_disconnect:
            pipelined = 0
            while pipelined < _MAX_PIPELINED:
                try:
                    data = await self.stream.receive_some(_RECV_BYTES)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    return self._gone()
                pipelined += len(data)
                conn.receive_data(bytes(data))  # the next request's bytes, kept for later
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    def _gone(self) -> dict[str, Any]:
        self.peer_gone = True
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        """ASGI send: the head is held back and written with the body in one write."""
        if message["type"] == "http.response.start":
            status = int(message["status"])
            self._head = h11.Response(
                status_code=status,
                headers=message.get("headers", []),
                reason=HTTPStatus(status).phrase.encode(),
            )
            return
        body = message.get("body", b"")
        assert self._head is not None, "ASGI: the body before the response's start"
        data = self.h11.send(self._head) or b""
        if body:
            data += self.h11.send(h11.Data(data=body)) or b""
        if not message.get("more_body", False):
            data += self.h11.send(h11.EndOfMessage()) or b""
        await self._write(data)

    async def _write(self, data: bytes) -> None:
        if self.peer_gone:
            return
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.peer_gone = True

    async def _not_ours(self) -> None:
        refusal = NotFound(_SERVES)
        await self._respond(refusal.status, refusal.to_json().encode())

    async def _refuse_malformed(self, exc: h11.RemoteProtocolError) -> None:
        if self.h11.our_state is not h11.SEND_RESPONSE and self.h11.our_state is not h11.IDLE:
            return
        status = exc.error_status_hint
        body = f'{{"error": {{"code": "bad_request", "message": "{HTTPStatus(status).phrase}"}}}}'
        await self._respond(status, body.encode())

    async def _respond(self, status: int, body: bytes) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        response = h11.Response(
            status_code=status, headers=headers, reason=HTTPStatus(status).phrase.encode()
        )
        try:
            data = self.h11.send(response) or b""
        except h11.LocalProtocolError:
            # h11 cannot answer a request it never parsed: write the answer by hand.
            head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()
            head += b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n"
            await self._write(head + body)
            return
        data += self.h11.send(h11.Data(data=body)) or b""
        data += self.h11.send(h11.EndOfMessage()) or b""
        await self._write(data)
