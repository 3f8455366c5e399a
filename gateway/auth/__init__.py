"""Identity and access for the gateway: OIDC access tokens, WebSocket auth, membership.

Public API (everything else is private):
- ``TokenVerifier(settings, http_client=None)``: ``await nursery.start(verifier.run)`` or
  ``await verifier.start()``; ``await verifier.verify(token) -> Principal``; ``ready``.
- ``bearer_token(authorization_header) -> str`` for REST.
- WebSocket: ``parse_bearer_subprotocol``, ``parse_auth_frame``, ``receive_auth``,
  ``OriginPolicy``, ``ExpiryWatch``, ``AUTH_DEADLINE_S``.
- Membership policy: ``can_read``/``can_post``/``can_manage_members`` and ``require_*``.
- Logging: ``redact_token_in_url``, ``redact_tokens``, ``TokenRedactingFilter``,
  ``install_log_redaction``.
- Errors: see ``gateway.auth._errors`` (every refusal has status, close_code, to_json()).
"""

from __future__ import annotations

from gateway.auth._errors import (
    AuthError,
    AuthFrameRejected,
    AuthTimeout,
    BadSignature,
    ClaimRejected,
    ExpiredToken,
    Forbidden,
    InvalidToken,
    MalformedToken,
    MissingToken,
    OriginRejected,
    PrincipalMismatch,
    ProviderUnavailable,
    Refusal,
    UnknownSigningKey,
    UnsafeTokenHeader,
    WrongTokenType,
)
from gateway.auth._header import MAX_TOKEN_BYTES, bearer_token
from gateway.auth._policy import (
    can_manage_members,
    can_post,
    can_read,
    require_manage_members,
    require_post,
    require_read,
    thread_members,
)
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
    "AuthError",
    "AuthFrameRejected",
    "AuthTimeout",
    "BadSignature",
    "ClaimRejected",
    "ExpiredToken",
    "ExpiryWatch",
    "Forbidden",
    "InvalidToken",
    "MalformedToken",
    "MissingToken",
    "OriginPolicy",
    "OriginRejected",
    "Principal",
    "PrincipalMismatch",
    "ProviderUnavailable",
    "Refusal",
    "SubprotocolOffer",
    "TokenRedactingFilter",
    "TokenVerifier",
    "UnknownSigningKey",
    "UnsafeTokenHeader",
    "WrongTokenType",
    "allowed_algorithms",
    "bearer_token",
    "can_manage_members",
    "can_post",
    "can_read",
    "install_log_redaction",
    "offered_subprotocols",
    "parse_auth_frame",
    "parse_bearer_subprotocol",
    "receive_auth",
    "redact_token_in_url",
    "redact_tokens",
    "require_manage_members",
    "require_post",
    "require_read",
    "thread_members",
]
