"""Errors of the WebSocket layer; each one knows how the connection answers it.

    WsError                     base
    ├── FrameRejected           the frame cannot be read at all: the connection closes with
    │                           ``close_code`` (1007 bad JSON, 1009 too big, 1003 binary)
    └── CommandInvalid          the frame is JSON but not a valid command: an ``error`` frame
                                names ``field``; the connection stays open

Refusals from the rest of the gateway (``gateway.auth.Refusal`` and its subclasses) are
mapped in ``gateway.ws.connection``: identity refusals (``AuthError``) and connection-level
limits close with their ``close_code``; refusals of one command become ``error`` frames.
"""

from __future__ import annotations

__all__ = ["CommandInvalid", "FrameRejected", "WsError"]


class WsError(Exception):
    """Base of the WebSocket layer's own errors."""


class FrameRejected(WsError):
    """Raised by ``protocol.parse_command`` when a frame is not well-formed JSON we accept.

    Malformed JSON, NaN/Infinity, duplicate keys, deep nesting, numbers out of range and lone
    surrogates all land here; the connection is closed with ``close_code`` (1007).
    """

    def __init__(self, reason: str, close_code: int = 1007) -> None:
        super().__init__(reason)
        self.reason = reason
        self.close_code = close_code


class CommandInvalid(WsError):
    """Raised by ``protocol.parse_command`` when a JSON object is not a valid command.

    ``field`` names the offending field; the connection answers with an ``error`` frame
    (code ``invalid``) and stays open.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
