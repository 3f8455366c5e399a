"""Which browser pages may open a WebSocket: the Origin policy of both transports.

Allowed, in order:
1. what ``gateway.auth.OriginPolicy.from_settings`` allows: no Origin header (not a
   browser: CLI, bots), an origin listed in ``CORS_ORIGINS`` (``*`` allows any), or the
   gateway's own public origin (the page came from ``/``, the WebSocket has its own port);
2. same origin: the Origin names exactly the host:port the request was sent to;
3. local development: when this server listens on a loopback address, any loopback
   Origin (``localhost``, ``127.0.0.1``, ``[::1]``, any port) — a page served from the
   developer's own machine. A remote site cannot have a loopback Origin, and a loopback
   listener is unreachable from elsewhere.
Everything else (``null``, other sites, ``app.example.com.evil.com``) is refused: the
connection is accepted only to be closed at once with 1008 ``origin_rejected``, so that a
browser client sees a code (a refused handshake only shows 1006); no frame is read.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from gateway.auth import OriginPolicy

__all__ = ["WsOriginPolicy", "is_loopback_host"]

_LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WsOriginPolicy:
    def __init__(self, base: OriginPolicy, *, loopback_server: bool) -> None:
        self._base = base
        self._loopback_server = loopback_server

    def allows(self, origin: str | None, host_header: str | None) -> bool:
        if self._base.allows(origin):
            return True
        if not origin or origin.lower() == "null" or len(origin) > 512:
            return False
        try:
            parts = urlsplit(origin)
            hostname = parts.hostname
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not hostname:
            return False
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            return False
        if host_header and parts.netloc.lower() == host_header.strip().lower():
            return True
        return self._loopback_server and is_loopback_host(hostname)
