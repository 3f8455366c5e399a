"""Tunables of a WebSocket connection; defaults from Settings, tests pass their own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["WsOptions"]


@dataclass(frozen=True, slots=True)
class WsOptions:
    max_frame_bytes: int = 65_536
    #: no auth (frame or bearer subprotocol) verified within this → close 1008
    auth_timeout_s: float = 5.0
    #: server ping when nothing was written for this long; silent peer for 2x → dropped
    ping_interval_s: float = 20.0
    #: how often open connections are checked for an expired token (close 1008)
    expiry_check_s: float = 1.0
    #: a send_all that cannot finish in this time means a reader that never reads
    write_timeout_s: float = 30.0
    #: after our close frame, how long to wait for the peer's before dropping TCP
    close_timeout_s: float = 2.0
    #: cork fan-out until the publisher yields (one write per connection per burst)
    cork_fanout: bool = True
    max_subscriptions: int = 512
    history_page: int = 500
    #: token bucket over all client commands of one connection; empty → close 1008
    command_rate_per_s: float = 50.0
    command_burst: int = 200
    #: typing frames per thread closer together than this are not forwarded
    typing_interval_s: float = 1.0
    #: consecutive rate-limited sends before the connection is closed with 1008
    rate_refusals_before_close: int = 20

    @classmethod
    def from_settings(cls, settings: Settings) -> WsOptions:
        # The frame budget stays well above the per-user message rate, so an operator who
        # raises PARLEY_USER_RATE_PER_S (a bench, a bot) is limited by that, not by this.
        return cls(
            max_frame_bytes=settings.max_ws_frame_bytes,
            command_rate_per_s=max(50.0, 2 * settings.user_rate_per_s + 10),
            command_burst=max(200, 2 * settings.user_rate_burst + 20),
        )
