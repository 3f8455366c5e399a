"""The gateway role: REST, WebSocket, token checks, limits, and live fan-out of chat.events.

    start_gateway(system, settings, status, adapters) -> GatewayContext
        starts every part of a gateway in the process's actor system; the context is
        complete (verifier, ingest, thread directory, WebSocket server, ws_url)
    create_asgi_app(ctx)     the HTTP app: posting fast path in front of the Quart app
    create_ops_app(...)      what a process without the gateway role serves over HTTP
    HttpServer               Hypercorn serving an app as a Service, drain-aware

Subpackages sit below the package's own modules: `gateway.auth` (tokens, origins) and
`gateway.ws` (the WebSocket side) never import `gateway`'s modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway._assembly import start_gateway
from gateway.app import create_app, create_ops_app
from gateway.context import GatewayContext
from gateway.fast_ingest import FastIngest
from gateway.http_server import HttpServer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hypercorn.typing import ASGIFramework
    from quart import Blueprint

__all__ = [
    "GatewayContext",
    "HttpServer",
    "create_app",
    "create_asgi_app",
    "create_ops_app",
    "start_gateway",
]


def create_asgi_app(ctx: GatewayContext, extra: Sequence[Blueprint] = ()) -> ASGIFramework:
    """The gateway's HTTP app; the posting routes are answered in front of Quart
    (see gateway.fast_ingest). `extra`: other roles' blueprints (see create_app)."""
    return FastIngest(create_app(ctx, extra), ctx)
