"""Identity for the gateway: OIDC access tokens, WebSocket auth, allowed origins.

Public API (everything else is private):
- ``TokenVerifier(settings, http_client=None)``: ``await nursery.start(verifier.run)`` or
  ``await verifier.start()``; ``await verifier.verify(token) -> Principal``; ``ready``.
- ``bearer_token(authorization_header) -> str`` for REST.
- ``is_admin(principal, claim, value)``: the operations API's check (``PARLEY_ADMIN_CLAIM``).
- WebSocket: ``parse_bearer_subprotocol``, ``parse_auth_frame``, ``receive_auth``,
  ``OriginPolicy``, ``ExpiryWatch``, ``AUTH_DEADLINE_S``.
- Logging: ``redact_token_in_url``, ``redact_tokens``, ``TokenRedactingFilter``,
  ``install_log_redaction``.
- Errors: the identity refusals (``AuthError`` and its subclasses, ``OriginRejected``) are
  defined in ``protocol.refusals``, with every other refusal the API answers.
"""

from __future__ import annotations

from gateway.auth._admin import is_admin
from gateway.auth._header import MAX_TOKEN_BYTES, bearer_token
from gateway.auth._principal import Principal
from gateway.auth._redact import (
    TokenRedactingFilter,
    install_log_redaction,
    redact_token_in_url,
    redact_tokens,
)
from gateway.auth._verifier import LEEWAY_S, REQUIRED_CLAIMS, TokenVerifier, allowed_algorithms
from gateway.auth._websocket import (
    AUTH_DEADLINE_S,
    BEARER_SUBPROTOCOL,
    ExpiryWatch,
    OriginPolicy,
    SubprotocolOffer,
    offered_subprotocols,
    parse_auth_frame,
    parse_bearer_subprotocol,
    receive_auth,
)

__all__ = [
    "AUTH_DEADLINE_S",
    "BEARER_SUBPROTOCOL",
    "LEEWAY_S",
    "MAX_TOKEN_BYTES",
    "REQUIRED_CLAIMS",
    "ExpiryWatch",
    "OriginPolicy",
    "Principal",
    "SubprotocolOffer",
    "TokenRedactingFilter",
    "TokenVerifier",
    "allowed_algorithms",
    "bearer_token",
    "install_log_redaction",
    "is_admin",
    "offered_subprotocols",
    "parse_auth_frame",
    "parse_bearer_subprotocol",
    "receive_auth",
    "redact_token_in_url",
    "redact_tokens",
]
