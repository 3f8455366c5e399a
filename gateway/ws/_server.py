"""WsServer: everything a WebSocket endpoint needs, built once by the gateway's assembly.

Both endpoints (the dedicated listener and Quart's `/ws` on the HTTP port) serve from the
same object, so they share one hub, one set of services and one supervisor of connection
actors: the process's one supervision tree holds every connection.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.auth import OriginPolicy
from gateway.ws._options import WsOptions

if TYPE_CHECKING:
    import trio

    from actors import Supervisor
    from config.settings import Settings
    from gateway.ws._interfaces import ConnectionServices
    from gateway.ws.hub import FanoutHub
    from telemetry import Metrics

__all__ = ["WsServer"]


@dataclass(frozen=True, slots=True)
class WsServer:
    services: ConnectionServices
    hub: FanoutHub
    options: WsOptions
    origins: OriginPolicy
    # Set when the process drains: stop accepting, close every connection with 1001.
    draining: trio.Event
    metrics: Metrics
    # Supervises every connection actor (TEMPORARY children: a crash closes with 1011).
    connections: Supervisor
    # How long open connections get to close after the drain began.
    shutdown_grace_s: float

    @classmethod
    def build(
        cls,
        settings: Settings,
        services: ConnectionServices,
        hub: FanoutHub,
        *,
        draining: trio.Event,
        connections: Supervisor,
        **option_overrides: Any,
    ) -> WsServer:
        """Options and origins from the settings; `option_overrides` replace WsOptions fields."""
        options = dataclasses.replace(WsOptions.from_settings(settings), **option_overrides)
        return cls(
            services=services,
            hub=hub,
            options=options,
            origins=OriginPolicy.from_settings(settings),
            draining=draining,
            metrics=hub.metrics,
            connections=connections,
            shutdown_grace_s=settings.shutdown_grace_s,
        )
