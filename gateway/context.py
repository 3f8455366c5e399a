"""Everything a gateway request handler needs, gathered in one object built at start-up.

Handlers get it from the app config instead of module globals, so several apps (tests,
several gateways in one interpreter) never share state by accident.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from protocol.refusals import Unavailable
from telemetry.metrics import Metrics
from telemetry.readiness import Readiness

if TYPE_CHECKING:
    from gateway.auth import Principal, TokenVerifier
    from gateway.ingest import Ingest
    from gateway.threads import ThreadDirectory
    from gateway.ws.hub import FanoutHub

__all__ = ["GatewayContext"]


@dataclass
class GatewayContext:
    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    readiness: Readiness = field(default_factory=Readiness)
    ws_url: str = ""
    snapshot_sources: list[Callable[[], dict[str, Any]]] = field(default_factory=list)
    gauge_refreshers: list[Callable[[], None]] = field(default_factory=list)
    # Wired by `parley serve` once the adapters are up; None in a core-only process.
    verifier: TokenVerifier | None = None
    ingest: Ingest | None = None
    threads: ThreadDirectory | None = None
    hub: FanoutHub | None = None
    # True once the gateway's chat.events consumer holds its partitions (readiness).
    events_assigned: Callable[[], bool] | None = None

    def require_ingest(self) -> Ingest:
        if self.ingest is None:
            raise Unavailable("message intake is not ready yet", retry_after_s=1)
        return self.ingest

    def require_threads(self) -> ThreadDirectory:
        if self.threads is None:
            raise Unavailable("the thread store is not ready yet", retry_after_s=1)
        return self.threads

    async def authenticate(self, token: str) -> Principal:
        """Who the token names; raises an InvalidToken refusal (401) otherwise."""
        if self.verifier is None:
            raise Unavailable("token verification is not ready yet", retry_after_s=1)
        return await self.verifier.verify(token)

    @property
    def gateway_id(self) -> str:
        return self.settings.gateway_id or f"{socket.gethostname()}-{os.getpid()}"

    def browser_config(self) -> dict[str, str]:
        s = self.settings
        return {
            "apiUrl": s.http_base_url,
            "wsUrl": self.ws_url or s.http_base_url.replace("http", "ws", 1) + "/ws",
            "issuer": s.oidc_issuer,
            "clientId": s.oidc_client_id,
            "audience": s.oidc_audience,
        }

    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = {
            "gateway_id": self.gateway_id,
            "role": s.value if (s := self.settings.role) else None,
            "readiness": self.readiness.report(),
        }
        for source in self.snapshot_sources:
            snap.update(source())
        return snap

    def refresh_gauges(self) -> None:
        for refresh in self.gauge_refreshers:
            refresh()
