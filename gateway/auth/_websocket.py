"""WebSocket authentication logic without sockets: subprotocol, auth frame, Origin, expiry.

Conventions (part of the documented protocol):
- Bearer subprotocol: the client offers ``Sec-WebSocket-Protocol: bearer, <access token>``
  (browser: ``new WebSocket(url, ["bearer", token])``). The token is the entry right after
  ``bearer``; the server selects ``bearer`` and never echoes the token. A compact JWS only
  has characters that are legal in a subprotocol token, so no extra encoding is needed.
- Otherwise the first frame must be ``{"type":"auth","token":"..."}`` within 5 s.
- Later ``auth`` frames refresh the token for the same user; without one, the connection is
  closed with 1008 when the token expires.
- Origin: browsers always send it, so a *present* Origin must match an allowed
  ``scheme://host[:port]`` exactly (default ports normalised); ``null`` is refused; a
  missing Origin (CLI, bots, server-to-server) is allowed by default, because cross-site
  WebSocket hijacking needs a browser and a browser cannot omit the header.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import trio

from config.errors import ConfigurationError
from gateway.auth._header import MAX_TOKEN_BYTES
from gateway.auth._principal import Principal
from protocol.refusals import (
    AuthFrameRejected,
    AuthTimeout,
    ExpiredToken,
    OriginRejected,
    PrincipalMismatch,
)

if TYPE_CHECKING:
    from config.settings import Settings
    from gateway.auth._verifier import TokenVerifier

__all__ = [
    "AUTH_DEADLINE_S",
    "BEARER_SUBPROTOCOL",
    "ExpiryWatch",
    "OriginPolicy",
    "SubprotocolOffer",
    "offered_subprotocols",
    "parse_auth_frame",
    "parse_bearer_subprotocol",
    "receive_auth",
]

AUTH_DEADLINE_S = 5.0
BEARER_SUBPROTOCOL = "bearer"
# An auth frame is the token plus a little JSON; anything bigger is not an auth frame.
MAX_AUTH_FRAME_BYTES = MAX_TOKEN_BYTES + 256
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class SubprotocolOffer:
    token: str
    selected: str = BEARER_SUBPROTOCOL  # what the server answers in Sec-WebSocket-Protocol


def parse_bearer_subprotocol(offered: Iterable[str]) -> SubprotocolOffer | None:
    """Find ``bearer, <token>`` among the offered subprotocols.

    ``offered`` are the header values or already-split names (both are split on commas).
    Returns None when ``bearer`` is not offered (then expect an auth frame); raises
    ``AuthFrameRejected`` when it is offered without exactly one token after it.
    """
    names = [part.strip() for value in offered for part in value.split(",") if part.strip()]
    positions = [i for i, name in enumerate(names) if name.lower() == BEARER_SUBPROTOCOL]
    if not positions:
        return None
    if len(positions) > 1:
        raise AuthFrameRejected("the bearer subprotocol is offered more than once")
    after = positions[0] + 1
    if after >= len(names):
        raise AuthFrameRejected("the bearer subprotocol is offered without a token after it")
    return SubprotocolOffer(token=names[after])


def parse_auth_frame(frame: str | bytes) -> str:
    """The token of an ``{"type":"auth","token":...}`` text frame, or ``AuthFrameRejected``."""
    if not isinstance(frame, str):
        raise AuthFrameRejected("the auth frame must be a text frame")
    if len(frame) > MAX_AUTH_FRAME_BYTES:
        raise AuthFrameRejected("the auth frame is too large")
    try:
        message = json.loads(frame)
    except ValueError:
        raise AuthFrameRejected("the auth frame is not JSON") from None
    if not isinstance(message, dict) or message.get("type") != "auth":
        raise AuthFrameRejected("the first frame must be an auth frame")
    token = message.get("token")
    if not isinstance(token, str) or not token:
        raise AuthFrameRejected("the auth frame has no token string")
    return token


async def receive_auth(
    receive: Callable[[], Awaitable[str | bytes]],
    verifier: TokenVerifier,
    *,
    deadline_s: float = AUTH_DEADLINE_S,
) -> Principal:
    """Wait for the first frame (at most ``deadline_s``), parse it, verify its token.

    ``receive`` is the connection's "next frame" coroutine. Raises ``AuthTimeout``,
    ``AuthFrameRejected`` or an ``InvalidToken`` subclass; all close with 1008.
    """
    frame: str | bytes | None = None
    with trio.move_on_after(deadline_s):
        frame = await receive()
    if frame is None:
        raise AuthTimeout(f"no auth frame within {deadline_s:g} s")
    return await verifier.verify(parse_auth_frame(frame))


class OriginPolicy:
    """Exact-match check of a browser ``Origin`` against the allowed origins."""

    def __init__(self, allowed: Iterable[str], *, allow_missing: bool = True) -> None:
        self.allow_any = False
        self.allow_missing = allow_missing
        self._allowed: set[tuple[str, str, int]] = set()
        for entry in allowed:
            if entry.strip() == "*":
                # An explicit operator choice (e.g. a public API); never the default.
                self.allow_any = True
                continue
            parsed = _parse_origin(entry.strip())
            if parsed is None:
                raise ConfigurationError(
                    f"CORS_ORIGINS entry {entry!r} is not an origin (scheme://host[:port])"
                )
            self._allowed.add(parsed)

    @classmethod
    def from_settings(cls, settings: Settings, *, allow_missing: bool = True) -> OriginPolicy:
        """``CORS_ORIGINS`` plus the gateway's own public origin (same-origin pages)."""
        own = urlsplit(settings.http_base_url)
        origins = [*settings.cors_origin_list, f"{own.scheme}://{own.netloc}"]
        return cls(origins, allow_missing=allow_missing)

    def allows(self, origin: str | None) -> bool:
        if origin is None or origin == "":
            return self.allow_missing
        parsed = _parse_origin(origin)
        if parsed is None:  # includes the opaque origin "null"
            return False
        return self.allow_any or parsed in self._allowed

    def check(self, origin: str | None) -> None:
        """Raise ``OriginRejected`` (403 before the handshake, or close 1008)."""
        if not self.allows(origin):
            if origin is None or origin == "":
                raise OriginRejected("requests without an Origin header are not accepted")
            raise OriginRejected("this Origin is not allowed to use Parley")


def _parse_origin(origin: str) -> tuple[str, str, int] | None:
    if origin.lower() == "null" or len(origin) > 512:
        return None
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return (scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS[scheme])


class ExpiryWatch:
    """When an open connection's token runs out, and refreshes that push it back.

    ``wall_clock`` gives Unix seconds (tests pass one driven by Trio's clock). Use
    ``wait_expired()`` in a task of the connection's nursery; when it returns, send
    ``expired_error().to_ws_frame()`` and close with ``expired_error().close_code`` (1008).
    """

    def __init__(
        self, principal: Principal, *, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._principal = principal
        self._wall_clock = wall_clock
        self._changed = trio.Event()

    @property
    def principal(self) -> Principal:
        return self._principal

    def seconds_left(self) -> float:
        return self._principal.expires_at - self._wall_clock()

    def refresh(self, principal: Principal) -> None:
        """Adopt a newly verified token for the same user (from a later ``auth`` frame)."""
        if principal.user_id != self._principal.user_id:
            raise PrincipalMismatch("the refreshed token belongs to another user")
        self._principal = principal
        self._changed.set()
        self._changed = trio.Event()

    async def wait_expired(self) -> None:
        """Return once the current token has expired and no refresh arrived in time."""
        while True:
            left = self.seconds_left()
            if left <= 0:
                return
            changed = self._changed
            with trio.move_on_after(left):
                await changed.wait()

    def expired_error(self) -> ExpiredToken:
        return ExpiredToken("access token expired on this connection")


def offered_subprotocols(headers: Sequence[tuple[bytes, bytes]]) -> list[str]:
    """``Sec-WebSocket-Protocol`` values from raw ASGI-style headers (helper for the gateway)."""
    return [
        value.decode("latin-1")
        for name, value in headers
        if name.lower() == b"sec-websocket-protocol"
    ]
