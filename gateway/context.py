"""GatewayContext: everything a gateway request handler needs, complete from the start.

Built once by `gateway.start_gateway` after every part it holds is running, so no handler
ever finds a part missing; handlers get it from the app config instead of module globals,
so several apps (tests, several gateways in one interpreter) never share state by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters import ProcessBoard
    from config.settings import Settings
    from gateway.auth import Principal, TokenVerifier
    from gateway.ingest import Ingest
    from gateway.threads import ThreadDirectory
    from gateway.ws import FanoutHub, WsServer
    from telemetry import Metrics, ProcessStatus, Readiness

__all__ = ["GatewayContext", "browser_config"]


@dataclass(frozen=True, slots=True)
class GatewayContext:
    settings: Settings
    status: ProcessStatus
    verifier: TokenVerifier
    ingest: Ingest
    threads: ThreadDirectory
    ws: WsServer
    # The deployment's process announcements and operator commands (the operations API).
    board: ProcessBoard
    # What /config.js advertises: the dedicated listener's URL, else /ws on the HTTP port.
    ws_url: str

    @property
    def metrics(self) -> Metrics:
        return self.status.metrics

    @property
    def readiness(self) -> Readiness:
        return self.status.readiness

    @property
    def hub(self) -> FanoutHub:
        return self.ws.hub

    async def authenticate(self, token: str) -> Principal:
        """Who the token names; raises an InvalidToken refusal (401) otherwise."""
        return await self.verifier.verify(token)

    def browser_config(self) -> dict[str, str]:
        return browser_config(self.settings, self.ws_url)


def browser_config(settings: Settings, ws_url: str = "") -> dict[str, str]:
    """What the browser reads from /config.js; nothing of it is baked into static files."""
    return {
        "apiUrl": settings.http_base_url,
        "wsUrl": ws_url or settings.http_base_url.replace("http", "ws", 1) + "/ws",
        "issuer": settings.oidc_issuer,
        "clientId": settings.oidc_client_id,
        "audience": settings.oidc_audience,
    }
