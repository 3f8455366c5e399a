"""HttpServer: Hypercorn serving a Quart-Trio app as a Service, until the drain is over.

Every role runs one: a gateway serves the whole app, a core-only process the operator app.
After the drain flag goes up Hypercorn keeps answering (503 + Retry-After) until the clients
went quiet (see gateway.http_drain), then stops accepting and finishes what is in flight.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve as hypercorn_serve

from gateway.http_drain import RequestActivity, stop_when_quiet

if TYPE_CHECKING:
    from hypercorn.typing import ASGIFramework

    from config.settings import Settings

__all__ = ["HttpServer"]

# After SIGTERM, Hypercorn keeps answering 503 until no request began for this long...
_HTTP_QUIET_S = 0.5
# ...but no longer than this (a load balancer's health checks never go quiet).
_HTTP_QUIET_CAP_S = 3.0


class HttpServer:
    def __init__(self, app: ASGIFramework, settings: Settings, draining: trio.Event) -> None:
        self._app = RequestActivity(app)
        self._settings = settings
        self._draining = draining

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        trigger = partial(
            stop_when_quiet,
            self._draining,
            self._app,
            quiet_s=_HTTP_QUIET_S,
            cap_s=min(_HTTP_QUIET_CAP_S, self._settings.shutdown_grace_s / 4),
        )
        await hypercorn_serve(
            self._app, hypercorn_config(self._settings), shutdown_trigger=trigger
        )

    def stop(self) -> None:
        # Hypercorn stops accepting and finishes in-flight requests (up to graceful_timeout).
        self._draining.set()


def hypercorn_config(settings: Settings) -> HyperConfig:
    config = HyperConfig()
    config.bind = [f"{settings.http_host}:{settings.http_port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.backlog = 2048
    # How long Hypercorn waits for open connections after it stops accepting. In-flight posts
    # finish in milliseconds (one Kafka ack); what lingers are idle kept-alive connections,
    # which must not hold the whole drain (they reconnect elsewhere and retry).
    config.graceful_timeout = min(5.0, settings.shutdown_grace_s / 2)
    # Without pings a vanished client may never reach the app under Trio (hypercorn#210).
    config.websocket_ping_interval = 20.0
    if settings.tls:
        # HTTPS only: a plain-HTTP client fails the TLS handshake and is disconnected.
        config.certfile = settings.tls_cert
        config.keyfile = settings.tls_key or None
    return config
