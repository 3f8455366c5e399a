"""``/ws`` on the main HTTP port (Quart-Trio on Hypercorn), for clients that only know it.

The same ConnectionActor as the dedicated listener, behind a Quart transport: the reader
turns ``websocket.receive()`` into commands, the writer sends what the outbox holds — several
queued events go out as ONE frame holding a JSON array (the protocol allows it), since every
``websocket.send`` through Hypercorn is costly. Hypercorn answers pings itself (the serve
config sets ``websocket_ping_interval``) and refuses invalid UTF-8 with 1007.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio
from quart import Blueprint, current_app, websocket

from actors import ActorRef
from gateway.ws._admission import admit
from gateway.ws._errors import CommandInvalid, FrameRejected
from gateway.ws._inbound import Inbound
from gateway.ws._options import WsOptions
from gateway.ws._origin import WsOriginPolicy, is_loopback_host
from gateway.ws.listener import spawn_connection_actor, tell_command
from gateway.ws.protocol import CloseCode, close_reason, error_frame, parse_command

if TYPE_CHECKING:
    from gateway.ws._outbox import Outbox
    from gateway.ws._server import WsServer
    from gateway.ws.connection import ConnectionActor

__all__ = ["ws_blueprint"]

log = logging.getLogger("parley.ws")

ws_blueprint = Blueprint("ws", __name__)


@ws_blueprint.websocket("/ws")
async def ws_endpoint() -> None:
    server: WsServer = current_app.config["PARLEY_WS"]
    origins = WsOriginPolicy(
        server.origins, loopback_server=is_loopback_host(current_app.config["PARLEY_HTTP_HOST"])
    )
    admission = admit(
        origins,
        websocket.headers.get("Origin"),
        websocket.headers.get("Host"),
        websocket.requested_subprotocols,
        draining=server.draining.is_set(),
    )
    await websocket.accept(subprotocol=admission.subprotocol)
    if admission.close_code is not None:
        await websocket.send(error_frame(admission.error_code, admission.message).decode())
        await websocket.close(
            admission.close_code, close_reason(f"{admission.error_code}: {admission.message}")
        )
        return
    outbox = server.hub.new_outbox()
    actor, ref = spawn_connection_actor(server, admission.bearer, outbox)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_writer, outbox, nursery.cancel_scope)
            every_s = server.options.expiry_check_s
            nursery.start_soon(_watch, server.draining, actor, outbox, every_s)
            await _reader(ref, outbox, server.options)
    finally:
        ref.stop()


async def _reader(ref: ActorRef[Inbound], outbox: Outbox, opts: WsOptions) -> None:
    while not outbox.closing:
        message = await websocket.receive()
        if isinstance(message, bytes):
            outbox.close(CloseCode.UNSUPPORTED_DATA, "binary frames are not accepted")
            return
        if len(message) > opts.max_frame_bytes or len(message.encode()) > opts.max_frame_bytes:
            outbox.close(CloseCode.TOO_BIG, f"frame over {opts.max_frame_bytes} bytes")
            return
        item: Inbound
        try:
            item = parse_command(message)
        except FrameRejected as exc:
            outbox.close(exc.close_code, close_reason(exc.reason))
            return
        except CommandInvalid as exc:
            item = exc
        tell_command(ref, item, outbox)


async def _writer(outbox: Outbox, scope: trio.CancelScope) -> None:
    try:
        while True:
            await outbox.wait()
            items = outbox.take()
            if len(items) == 1:
                await websocket.send(items[0].payload.decode())
            elif items:
                batch = b"[" + b",".join([f.payload for f in items]) + b"]"
                await websocket.send(batch.decode())
            if outbox.closing:
                await websocket.close(outbox.close_code, outbox.close_reason)
                return
    finally:
        scope.cancel()


async def _watch(
    draining: trio.Event, actor: ConnectionActor, outbox: Outbox, every_s: float
) -> None:
    """Drain (close 1001) and token expiry (close 1008) for this one connection."""
    while not outbox.closing:
        with trio.move_on_after(every_s):
            await draining.wait()
            outbox.close(CloseCode.GOING_AWAY, "server shutting down")
            return
        actor.check_deadlines()
