"""The fast WebSocket listener: plain Trio streams, wsproto for the handshake and for reading.

Per connection: the handler task reads (bytes → wsproto → commands ``tell``-ed to the
connection's ConnectionActor, supervised by the gateway's `connections` supervisor) and a
writer task drains the outbox when the hub could not write directly (full kernel buffer,
replies, the close handshake). Server frames bypass wsproto: the hub built their complete
wire bytes once for all recipients (no masking server-side, no compression negotiated). The
writer ends the connection: after the close frame it waits for the peer's close
(``close_timeout_s``), then cancels the connection's nursery, which stops the actor.

One heartbeat task serves every connection (no timer per connection): auth deadline and
token expiry every ``expiry_check_s``, a ping to peers quiet for ``ping_interval_s``, and
dropping peers silent for three intervals.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError

from actors import ActorRef, ActorStopped, MailboxFull, Restart
from gateway.ws._admission import Admission, admit
from gateway.ws._errors import CommandInvalid, FrameRejected
from gateway.ws._inbound import Inbound
from gateway.ws._interfaces import PlainHttp
from gateway.ws._options import WsOptions
from gateway.ws._origin import WsOriginPolicy, is_loopback_host
from gateway.ws._outbox import Outbox
from gateway.ws._rounds import Round
from gateway.ws._server import WsServer
from gateway.ws.connection import ConnectionActor
from gateway.ws.protocol import (
    CloseCode,
    close_reason,
    error_frame,
    parse_command,
    wire_text_frame,
)

if TYPE_CHECKING:
    from telemetry.metrics import Metrics

__all__ = ["open_ws_listeners", "serve_websockets", "spawn_connection_actor", "tell_command"]

log = logging.getLogger("parley.ws")

_RECV_BYTES = 65_536
_HANDSHAKE_BYTES = 16_384
WS_PATH = "/ws"
# A connection whose first request begins so is plain HTTP (a WebSocket handshake is a GET).
_POST = b"POST "
# The heartbeat's step: each step handles the connections whose turn came since the last.
_SLICE_S = 0.05
_CAN_SEND_CLOSE = (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)


async def open_ws_listeners(
    host: str, port: int, public_url: str = "", *, secure: bool = False
) -> tuple[list[trio.SocketListener], str]:
    """Bind the listener's port (0 picks a free one) before anything is served, so the
    public URL that /config.js advertises is known when the gateway is assembled
    (`wss://` when the listener will serve TLS)."""
    listeners = await trio.open_tcp_listeners(port, host=host, backlog=2048)
    actual_port = listeners[0].socket.getsockname()[1]
    return listeners, _public_ws_url(public_url, host, actual_port, secure=secure)


async def serve_websockets(
    server: WsServer,
    listeners: list[trio.SocketListener],
    *,
    ssl_context: ssl.SSLContext | None = None,
    http: PlainHttp | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve WebSockets on ``listeners`` until ``server.draining`` is set; with
    ``ssl_context``, WSS only (each stream a trio.SSLStream; plain clients fail the handshake).
    With ``http``, a connection whose first request is a ``POST`` is handed to it.

    Then: stop accepting, close every WebSocket of this gateway with 1001 (and ``http``'s
    connections once they went quiet), wait for them at most ``server.shutdown_grace_s``.
    """
    bind_host = listeners[0].socket.getsockname()[0]
    origins = WsOriginPolicy(server.origins, loopback_server=is_loopback_host(bind_host))
    live: set[RawConnection] = set()
    handler = partial(_serve_connection, server, origins, live, http)
    serving: list[trio.abc.Listener[trio.abc.Stream]] = list(listeners)
    if ssl_context is not None:
        serving = [trio.SSLListener(lst, ssl_context, https_compatible=True) for lst in listeners]
    with trio.CancelScope() as grace:
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as accepting:
                accepting.start_soon(_heartbeat, live, server.options)
                await accepting.start(
                    partial(trio.serve_listeners, handler, serving, handler_nursery=connections)
                )
                task_status.started()
                await server.draining.wait()
                accepting.cancel_scope.cancel()
            asked = server.hub.close_all(CloseCode.GOING_AWAY, "server shutting down")
            log.info("websocket drain", extra={"connections": asked})
            if http is not None:
                connections.start_soon(http.drain)
            grace.deadline = trio.current_time() + server.shutdown_grace_s
    log.info("websocket listener stopped")


async def _heartbeat(live: set[RawConnection], opts: WsOptions) -> None:
    """One task for all connections (no timer each): token expiry every ``expiry_check_s``,
    pings to quiet peers and dropping of silent ones every ``ping_interval_s``, each spread
    over its period in slices (gateway/ws/_rounds.py)."""
    interval = opts.ping_interval_s
    expiry: Round[RawConnection] = Round(opts.expiry_check_s)
    pings: Round[RawConnection] = Round(interval)
    tick = min(_SLICE_S, opts.expiry_check_s / 4, interval / 4)
    while True:
        await trio.sleep(tick)
        now = trio.current_time()
        for conn in expiry.due(live, now):
            if conn.actor is not None:
                conn.actor.check_deadlines()
        for conn in pings.due(live, now):
            conn.heartbeat(now, interval)


def _public_ws_url(public_url: str, bind_host: str, port: int, *, secure: bool = False) -> str:
    host = urlsplit(public_url).hostname if public_url else None
    if not host:
        host = "127.0.0.1" if bind_host in ("", "0.0.0.0", "::") else bind_host
    if ":" in host:
        host = f"[{host}]"
    return f"{'wss' if secure else 'ws'}://{host}:{port}{WS_PATH}"


async def _serve_connection(
    server: WsServer,
    origins: WsOriginPolicy,
    live: set[RawConnection],
    http: PlainHttp | None,
    stream: trio.abc.Stream,
) -> None:
    conn: RawConnection | None = None
    opts = server.options
    try:
        prefix = b""
        if http is not None:
            prefix = await _first_bytes(stream, len(_POST), opts.auth_timeout_s)
            if prefix.startswith(_POST):
                await http.serve(stream, prefix)
                return
        accepted = await _handshake(stream, opts, origins, server.draining, prefix)
        if accepted is None:
            return
        ws, admission = accepted
        outbox = server.hub.new_outbox()
        conn = RawConnection(stream, ws, outbox, opts, server.metrics)
        live.add(conn)
        if admission.close_code is not None:
            payload = error_frame(admission.error_code, admission.message)
            outbox.push_control(wire_text_frame(payload))
            reason = close_reason(f"{admission.error_code}: {admission.message}")
            outbox.close(admission.close_code, reason)
            await conn.run()
            return
        conn.spawner = partial(spawn_connection_actor, server, admission.bearer)
        # Nothing of the handshake (its bearer token above all) stays referenced by this
        # frame for the connection's lifetime: run() takes the spawner and lets it go.
        del accepted, admission
        await conn.run()
    except Exception:
        log.exception("websocket connection handler failed")
    finally:
        if conn is not None:
            live.discard(conn)
        await trio.aclose_forcefully(stream)


def spawn_connection_actor(
    server: WsServer, bearer: str | None, outbox: Outbox, *, via: str = "ws"
) -> tuple[ConnectionActor, ActorRef[Inbound]]:
    """One supervised actor for one connection; TEMPORARY: a crash closes it with 1011."""
    actor = ConnectionActor(
        services=server.services,
        hub=server.hub,
        outbox=outbox,
        options=server.options,
        via=via,
        bearer_token=bearer,
    )
    ref = server.connections.spawn(
        lambda: actor, restart=Restart.TEMPORARY, shutdown=actor.stop_grace
    )
    return actor, ref


def tell_command(ref: ActorRef[Inbound] | None, item: Inbound, outbox: Outbox) -> None:
    """Hand a parsed frame to the connection's actor; a flooded mailbox closes with 1008."""
    if ref is None:
        return
    try:
        ref.tell(item)
    except MailboxFull:
        outbox.close(CloseCode.POLICY, "rate_limited: too many commands queued")
    except ActorStopped:
        pass  # the connection is ending


async def _first_bytes(stream: trio.abc.Stream, count: int, timeout_s: float) -> bytes:
    """At least ``count`` bytes of what the client sends first (fewer if it closed or went
    silent): enough to tell a POST from a WebSocket handshake."""
    data = b""
    with trio.move_on_after(timeout_s):
        while len(data) < count:
            try:
                chunk = await stream.receive_some(_HANDSHAKE_BYTES)
            except trio.BrokenResourceError:
                break
            if not chunk:
                break
            data += bytes(chunk)
    return data


async def _handshake(
    stream: trio.abc.Stream,
    opts: WsOptions,
    origins: WsOriginPolicy,
    draining: trio.Event,
    prefix: bytes = b"",
) -> tuple[Connection, Admission] | None:
    """Read the upgrade request (within the auth deadline) and accept it; ``prefix`` is what
    was already read from the stream.

    Returns None when the request was rejected at the HTTP level (not a WebSocket upgrade,
    wrong path, malformed, too slow); otherwise the frame-level connection, the admission
    (which may say "close at once": Origin, bad bearer offer, draining).
    """
    handshake = H11Handshake(ConnectionType.SERVER)
    request: Request | None = None
    received = 0
    pending = prefix
    data: bytes | bytearray
    with trio.move_on_after(opts.auth_timeout_s):
        while request is None:
            if pending:
                data, pending = pending, b""
            else:
                try:
                    data = await stream.receive_some(_HANDSHAKE_BYTES)
                except trio.BrokenResourceError:
                    return None
                if not data:
                    return None
            received += len(data)
            try:
                handshake.receive_data(bytes(data))
                for event in handshake.events():
                    if isinstance(event, Request):
                        request = event
                        break
            except RemoteProtocolError as exc:
                await _reject(stream, handshake, exc.event_hint)
                return None
            if request is None and received > _HANDSHAKE_BYTES:
                await _reject(stream, handshake, RejectConnection(status_code=431))
                return None
    if request is None:
        return None  # slowloris: no complete upgrade request in time
    if urlsplit(request.target).path != WS_PATH:
        await _reject(stream, handshake, RejectConnection(status_code=404))
        return None
    origin = next((v for k, v in request.extra_headers if k.lower() == b"origin"), None)
    admission = admit(
        origins,
        origin.decode("latin-1") if origin is not None else None,
        request.host,
        request.subprotocols,
        draining=draining.is_set(),
    )
    data = handshake.send(AcceptConnection(subprotocol=admission.subprotocol, extensions=[]))
    try:
        await stream.send_all(data)
    except trio.BrokenResourceError:
        return None
    ws = handshake.connection
    assert ws is not None
    return ws, admission


async def _reject(stream: trio.abc.Stream, handshake: H11Handshake, event: object | None) -> None:
    reject = event if isinstance(event, RejectConnection) else RejectConnection(status_code=400)
    try:
        data = handshake.send(reject)
    except Exception:  # wsproto refuses to answer a request it could not parse at all
        data = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    with trio.move_on_after(1.0):
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(data)


ActorSpawner = Callable[[Outbox], "tuple[ConnectionActor, ActorRef[Inbound]]"]


class RawConnection:
    """The socket half of one WebSocket connection (reader and writer tasks)."""

    # One per connection, most of them idle: no instance dict.
    __slots__ = (
        "_scope",
        "actor",
        "input_done",
        "last_rx",
        "metrics",
        "opts",
        "outbox",
        "spawner",
        "stream",
        "ws",
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        ws: Connection,
        outbox: Outbox,
        opts: WsOptions,
        metrics: Metrics,
    ) -> None:
        self.stream = stream
        self.ws = ws
        self.outbox = outbox
        self.opts = opts
        self.metrics = metrics
        self.last_rx = trio.current_time()
        self.input_done = trio.Event()
        self.actor: ConnectionActor | None = None
        self.spawner: ActorSpawner | None = None
        self._scope: trio.CancelScope | None = None

    async def run(self) -> None:
        """Writer task + the reader in this task; the actor lives in the listener's system,
        spawned by `spawner` (none: a refused connection, only closed)."""
        async with trio.open_nursery() as nursery:
            self._scope = nursery.cancel_scope
            nursery.start_soon(self._writer)
            ref: ActorRef[Inbound] | None = None
            if self.spawner is not None:
                self.actor, ref = self.spawner(self.outbox)
                self.spawner = None
            try:
                await self._reader(ref)
            finally:
                if ref is not None:
                    ref.stop()

    def _abort(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

    def _close(self, code: int, reason: str) -> None:
        self.outbox.close(code, close_reason(reason))

    async def _reader(self, ref: ActorRef[Inbound] | None) -> None:
        ws, stream, outbox = self.ws, self.stream, self.outbox
        fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else -1
        max_bytes = self.opts.max_frame_bytes
        parts: list[str] = []
        size = 0
        while True:
            # On plain TCP (fd >= 0) the socket is waited on and read here, in this frame: an
            # idle connection's reader is parked three coroutine frames shallower than inside
            # SocketStream.receive_some (~250 bytes each, measured with 1,000 idle
            # connections). Over TLS every byte goes through the SSLStream.
            if fd >= 0:
                try:
                    await trio.lowlevel.wait_readable(fd)
                    data = os.read(fd, _RECV_BYTES)
                except BlockingIOError:
                    continue  # woken with nothing to read after all
                except (OSError, trio.ClosedResourceError):
                    data = b""  # reset, or closed by the writer's side
            else:
                try:
                    received = await stream.receive_some(_RECV_BYTES)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    received = b""
                # An SSLStream may give a bytearray.
                data = received if type(received) is bytes else bytes(received)
            if not data:
                self.input_done.set()
                if not outbox.closing:
                    self._abort()  # vanished without a close frame: nothing to say
                return
            self.last_rx = trio.current_time()
            ws.receive_data(data)
            ping: Ping | None = None
            for event in ws.events():
                if isinstance(event, TextMessage):
                    if outbox.closing:
                        continue  # closing: frames are no longer read
                    chunk = event.data
                    size += len(chunk) if chunk.isascii() else len(chunk.encode())
                    if size > max_bytes:
                        self._close(CloseCode.TOO_BIG, f"frame over {max_bytes} bytes")
                        parts.clear()
                        continue
                    parts.append(chunk)
                    if event.message_finished:
                        text = parts[0] if len(parts) == 1 else "".join(parts)
                        parts.clear()
                        size = 0
                        self._dispatch(text, ref)
                elif isinstance(event, BytesMessage):
                    self._close(CloseCode.UNSUPPORTED_DATA, "binary frames are not accepted")
                elif isinstance(event, Ping):
                    ping = event  # a flood gets one pong per read, for the latest ping
                elif isinstance(event, CloseConnection):
                    if ws.state is ConnectionState.REMOTE_CLOSING:
                        self.outbox.close(event.code, "")  # echo the peer's close
                    elif ws.state is not ConnectionState.CLOSED:
                        # wsproto could not parse the input (1007 bad UTF-8, 1002...)
                        self._close(event.code, event.reason or "protocol error")
                    self.input_done.set()
                    return
            if ping is not None and not outbox.closing:
                outbox.push_control(ws.send(ping.response()))

    def _dispatch(self, text: str, ref: ActorRef[Inbound] | None) -> None:
        item: Inbound
        try:
            item = parse_command(text)
        except FrameRejected as exc:
            self._close(exc.close_code, exc.reason)
            return
        except CommandInvalid as exc:
            item = exc
        tell_command(ref, item, self.outbox)

    async def _writer(self) -> None:
        ws, stream, outbox, opts = self.ws, self.stream, self.outbox, self.opts
        # Direct writes to the socket only for plain TCP: over TLS every byte goes through
        # the SSLStream (fd -1: the outbox queues, this writer sends).
        fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else -1
        outbox.fd = fd
        while True:
            await outbox.wait()
            chunks = outbox.take_control()
            items = outbox.take()
            if items:
                if chunks or len(items) > 1:
                    chunks.extend([f.wire for f in items])
                else:
                    chunks = [items[0].wire]
            if outbox.closing and ws.state in _CAN_SEND_CLOSE:
                code = outbox.close_code
                reason = outbox.close_reason or None
                chunks.append(ws.send(CloseConnection(code=code, reason=reason)))
            if chunks:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                # Fast path: one non-blocking write, no checkpoint (the wait above is this
                # task's one scheduling point per batch); the rest through send_all.
                try:
                    sent = os.write(fd, data) if fd >= 0 else 0
                except BlockingIOError:
                    sent = 0
                except OSError:
                    self._abort()
                    return
                if sent < len(data) and not await self._send_rest(memoryview(data)[sent:]):
                    return
            # Only once the close frame is out (closing may have begun during a write).
            if outbox.closing and ws.state not in _CAN_SEND_CLOSE:
                break
        if ws.state is not ConnectionState.CLOSED:
            with trio.move_on_after(opts.close_timeout_s):
                await self.input_done.wait()
        self._abort()

    async def _send_rest(self, rest: memoryview) -> bool:
        """The kernel buffer is full: wait for room, but not forever (a reader that never
        reads is a slow consumer too). False when the connection was aborted."""
        with trio.move_on_after(self.opts.write_timeout_s) as stuck:
            try:
                await self.stream.send_all(rest)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._abort()
                return False
        if stuck.cancelled_caught:
            self.metrics.slow_consumers.inc()
            self._abort()
            return False
        return True

    def heartbeat(self, now: float, interval: float) -> None:
        """Called by the listener's heartbeat task every ``interval`` seconds."""
        quiet = now - self.last_rx
        if quiet > 3 * interval:
            self._abort()  # the peer answered neither data nor two pings: it is gone
        elif quiet > interval * 0.9 and self.ws.state is ConnectionState.OPEN:
            self.outbox.push_control(self.ws.send(Ping(b"parley")))
