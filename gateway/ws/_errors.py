"""Parse errors of the WebSocket reader; each one knows how the connection answers it.

    WsError                     base, never raised itself
    ├── FrameRejected           the frame is not JSON we accept: the connection closes with
    │                           ``close_code`` (1007; binary and oversized frames are closed
    │                           by the readers before parsing, 1003 and 1009)
    └── CommandInvalid          the frame is JSON but not a valid command: an ``error`` frame
                                names ``field``; the connection stays open

These are the parse outcomes of ``gateway.ws.protocol.parse_command``, not API refusals, so
they stay here and out of the tree in ``protocol.refusals``: neither ever leaves the
connection as an exception. The reader catches ``FrameRejected`` and closes at once;
``CommandInvalid`` goes on to the ``ConnectionActor`` as an inbox value (see
``gateway.ws._inbound``), answered with an ``invalid`` error frame. They have no HTTP status,
and an ``except Refusal`` must never swallow a parse failure.

Refusals (``protocol.refusals.Refusal`` and its subclasses) are mapped in
``gateway.ws.connection``: identity refusals (``AuthError``) and connection-level limits close
with their ``close_code``; refusals of one command become ``error`` frames.
"""

from __future__ import annotations

__all__ = ["CommandInvalid", "FrameRejected", "WsError"]


class WsError(Exception):
    """Base of the WebSocket reader's parse errors; never raised itself."""


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
