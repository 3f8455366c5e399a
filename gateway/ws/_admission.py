"""The upgrade decision shared by both transports: Origin, bearer subprotocol, readiness."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.auth import parse_bearer_subprotocol
from gateway.ws._origin import WsOriginPolicy
from gateway.ws.protocol import CloseCode
from protocol.refusals import AuthError

__all__ = ["SUBPROTOCOL", "Admission", "admit"]

#: offered by clients that want a subprotocol but carry the token in an auth frame
SUBPROTOCOL = "parley.v1"


@dataclass(frozen=True, slots=True)
class Admission:
    """How to answer an upgrade: always accept; then close at once when ``close_code``."""

    subprotocol: str | None = None
    bearer: str | None = None
    close_code: int | None = None
    error_code: str = ""
    message: str = ""

    def __repr__(self) -> str:  # the bearer token never reaches a log
        return f"Admission(subprotocol={self.subprotocol!r}, close_code={self.close_code!r})"


def admit(
    origins: WsOriginPolicy,
    origin: str | None,
    host: str | None,
    subprotocols: Iterable[str],
    *,
    draining: bool,
) -> Admission:
    offered = list(subprotocols)
    if not origins.allows(origin, host):
        return Admission(
            close_code=CloseCode.POLICY,
            error_code="origin_rejected",
            message="this Origin may not use Parley",
        )
    try:
        offer = parse_bearer_subprotocol(offered)
    except AuthError as exc:
        return Admission(close_code=exc.close_code, error_code=exc.code, message=exc.reason)
    if draining:
        return Admission(
            close_code=CloseCode.GOING_AWAY,
            error_code="server_shutting_down",
            message="server shutting down; reconnect",
        )
    if offer is not None:
        return Admission(subprotocol=offer.selected, bearer=offer.token)
    if SUBPROTOCOL in offered:
        return Admission(subprotocol=SUBPROTOCOL)
    return Admission()
