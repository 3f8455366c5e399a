"""WebSocket side of the gateway: protocol, fan-out hub, dedicated listener, Quart route.

Public API:
- ``FanoutHub(metrics=ctx.metrics, mailbox_frames=..., max_connections_per_user=...)`` or
  ``FanoutHub.from_settings(settings, metrics)``; ``hub.publish(event)`` is synchronous.
- ``serve_websockets(ctx, *, host=None, port=None, task_status)``: the dedicated listener.
- ``ws_blueprint`` (in ``gateway.ws.quart_route``): ``/ws`` on the HTTP port.
- ``protocol``: commands, server frames, ``CloseCode``.
"""

from __future__ import annotations

from gateway.ws._errors import CommandInvalid, FrameRejected, WsError
from gateway.ws._options import WsOptions
from gateway.ws._outbox import Outbox, OutFrame
from gateway.ws._ports import ConnectionPorts, ports_from_context
from gateway.ws.hub import FanoutHub
from gateway.ws.listener import serve_websockets
from gateway.ws.protocol import CloseCode

__all__ = [
    "CloseCode",
    "CommandInvalid",
    "ConnectionPorts",
    "FanoutHub",
    "FrameRejected",
    "OutFrame",
    "Outbox",
    "WsError",
    "WsOptions",
    "ports_from_context",
    "serve_websockets",
]
