"""TLS for the gateway's own WebSocket listener (`PARLEY_TLS_CERT`, `PARLEY_TLS_KEY`).

Hypercorn loads the same files for HTTPS itself; the dedicated listener wraps each accepted
stream in a `trio.SSLStream` with the context made here. One certificate for both: browsers
reach both ports under the same name.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import trio

from config.errors import ConfigurationError

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["server_ssl_context"]


async def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The listener's server context, None without TLS; ConfigurationError for bad files."""
    if not settings.tls:
        return None
    return await trio.to_thread.run_sync(_load, settings.tls_cert, settings.tls_key)


def _load(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # WebSocket over TLS is HTTP/1.1 (RFC 6455); no h2 offered here.
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(cert, key or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"PARLEY_TLS_CERT={cert!r} / PARLEY_TLS_KEY={key!r} could not be loaded: {exc}"
        ) from None
    return context
