"""WebSocket side of the gateway: protocol, fan-out hub, dedicated listener, Quart route.

Public API:
- ``FanoutHub(metrics=ctx.metrics, mailbox_frames=..., max_connections_per_user=...)`` or
  ``FanoutHub.from_settings(settings, metrics)``; ``hub.publish(event)`` is synchronous.
- ``WsServer``: everything an endpoint needs (services, hub, options, origins, the drain flag,
  the supervisor of connection actors), built once by the gateway's assembly.
- ``open_ws_listeners(host, port)`` then ``serve_websockets(server, listeners)``: the
  dedicated listener.
- ``ws_blueprint`` (in ``gateway.ws.quart_route``): ``/ws`` on the HTTP port; it finds the
  WsServer in the app config (``PARLEY_WS``).
- ``protocol``: commands, server frames, ``CloseCode``.
"""

from __future__ import annotations

from gateway.ws._errors import CommandInvalid, FrameRejected, WsError
from gateway.ws._interfaces import ConnectionServices
from gateway.ws._options import WsOptions
from gateway.ws._outbox import Outbox, OutFrame
from gateway.ws._server import WsServer
from gateway.ws.hub import FanoutHub
from gateway.ws.listener import open_ws_listeners, serve_websockets
from gateway.ws.protocol import CloseCode
from gateway.ws.quart_route import ws_blueprint

__all__ = [
    "CloseCode",
    "CommandInvalid",
    "ConnectionServices",
    "FanoutHub",
    "FrameRejected",
    "OutFrame",
    "Outbox",
    "WsError",
    "WsOptions",
    "WsServer",
    "open_ws_listeners",
    "serve_websockets",
    "ws_blueprint",
]
