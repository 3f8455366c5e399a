"""Refusals raised by identity and access checks; each knows how it is answered.

Every refusal carries what the transport needs: the HTTP ``status``, the WebSocket
``close_code``, a stable machine ``code`` and a message that says what happened and what
to do. No message ever contains token material: reasons are fixed sentences.

    Refusal                         base: status, close_code, code, to_json(), headers()
    ├── AuthError                   identity could not be established
    │   ├── InvalidToken            401 / 1008: the offered token is not acceptable
    │   │   ├── MissingToken          no credentials were offered at all
    │   │   ├── MalformedToken        not a compact JWS: size, segments, base64, JSON
    │   │   ├── UnsafeTokenHeader     alg none/HS*/not allowed, jwk/jku/x5u/x5c, crit, kid, b64
    │   │   ├── UnknownSigningKey     kid not published by the provider (after a permitted refetch)
    │   │   ├── BadSignature          signature does not verify with the provider's key
    │   │   ├── ExpiredToken          exp is in the past (also: expiry on an open connection)
    │   │   ├── ClaimRejected         iss/aud/sub/iat/nbf missing, wrong or in the future
    │   │   └── WrongTokenType        an ID (or other non-access) token offered as access token
    │   ├── AuthFrameRejected       401 / 1008: the WebSocket auth frame or subprotocol is invalid
    │   ├── AuthTimeout             401 / 1008: no auth frame within the deadline
    │   ├── PrincipalMismatch       401 / 1008: a refresh token names another user
    │   └── ProviderUnavailable     503 / 1013: *Broken* — the provider is unreachable and no
    │                               keys are cached yet (never raised while old keys exist)
    ├── OriginRejected              403 / 1008: browser Origin not in CORS_ORIGINS
    └── Forbidden                   403 / 1008: authenticated, but not a member / not the creator

The limits in ``gateway.limits`` (429 / 413 / 1008 / 1009) derive from ``Refusal`` as well, so
one ``except Refusal`` in the REST and WebSocket layers answers all of them.
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

__all__ = [
    "AuthError",
    "AuthFrameRejected",
    "AuthTimeout",
    "BadSignature",
    "ClaimRejected",
    "ExpiredToken",
    "Forbidden",
    "InvalidToken",
    "MalformedToken",
    "MissingToken",
    "OriginRejected",
    "PrincipalMismatch",
    "ProviderUnavailable",
    "Refusal",
    "UnknownSigningKey",
    "UnsafeTokenHeader",
    "WrongTokenType",
]

# RFC 6455 limits a close frame's reason to 123 bytes of UTF-8.
_MAX_CLOSE_REASON_BYTES = 123


class Refusal(Exception):
    """Base of every answer that refuses a request or closes a connection.

    ``str(exc)`` is the reason (what happened); ``hint`` says what the client should do.
    """

    status: ClassVar[int] = 400
    close_code: ClassVar[int] = 1008
    code: ClassVar[str] = "refused"
    hint: ClassVar[str] = ""

    def __init__(self, reason: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s

    @property
    def message(self) -> str:
        """Reason and advice in one sentence, as shown to the client."""
        return f"{self.reason}; {self.hint}" if self.hint else self.reason

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retry_after_s is not None:
            error["retry_after_s"] = round(self.retry_after_s, 3)
        return {"error": error}

    def to_json(self) -> str:
        """The JSON body for REST answers and WebSocket ``error`` frames."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def to_ws_frame(self) -> str:
        """A protocol ``{"type":"error","code","message"}`` frame to send before closing."""
        frame: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.retry_after_s is not None:
            frame["retry_after_s"] = round(self.retry_after_s, 3)
        return json.dumps(frame, separators=(",", ":"))

    def headers(self) -> dict[str, str]:
        """Extra HTTP response headers (Retry-After, WWW-Authenticate)."""
        if self.retry_after_s is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_s)))}

    @property
    def close_reason(self) -> str:
        """The WebSocket close reason: the code and reason, cut to 123 bytes."""
        text = f"{self.code}: {self.reason}"
        raw = text.encode("utf-8")[:_MAX_CLOSE_REASON_BYTES]
        return raw.decode("utf-8", errors="ignore")


class AuthError(Refusal):
    """Identity could not be established (401, close 1008)."""

    status = 401
    close_code = 1008
    code = "unauthenticated"
    hint = "sign in again and send a fresh access token"


class InvalidToken(AuthError):
    """Raised by ``TokenVerifier.verify`` when the offered token is not acceptable."""

    code = "invalid_token"

    def headers(self) -> dict[str, str]:
        # RFC 6750 section 3: the description must not carry token material, and ours is
        # always one of the fixed reasons below.
        description = self.reason.replace('"', "'")
        return {
            **super().headers(),
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"',
        }


class MissingToken(InvalidToken):
    """Raised when a request carries no bearer token at all."""

    code = "missing_token"
    hint = "send 'Authorization: Bearer <access token>'"

    def headers(self) -> dict[str, str]:
        # RFC 6750 section 3.1: no error code when the request had no credentials.
        return {"WWW-Authenticate": 'Bearer realm="parley"'}


class MalformedToken(InvalidToken):
    """Raised when the token is not a compact JWS of sane size with base64url JSON parts."""


class UnsafeTokenHeader(InvalidToken):
    """Raised when the header asks for something never allowed (alg none, HS*, own keys...)."""


class UnknownSigningKey(InvalidToken):
    """Raised when ``kid`` is not in the provider's JWKS, even after a permitted refetch."""


class BadSignature(InvalidToken):
    """Raised when the signature does not verify with the provider's published key."""


class ExpiredToken(InvalidToken):
    """Raised when ``exp`` has passed, or an open connection's token expired unrefreshed."""

    code = "token_expired"
    hint = "obtain a new access token and reconnect (or send an auth frame before expiry)"


class ClaimRejected(InvalidToken):
    """Raised when a required claim is missing or iss/aud/sub/iat/nbf is wrong."""


class WrongTokenType(InvalidToken):
    """Raised when an ID token (or any non-access token) is offered as an access token."""

    hint = "send the access token, not the ID token"


class AuthFrameRejected(AuthError):
    """Raised when the first WebSocket frame or bearer subprotocol is not a valid auth offer."""

    code = "auth_required"
    hint = 'send {"type":"auth","token":"<access token>"} as the first frame'


class AuthTimeout(AuthError):
    """Raised when a WebSocket sent no auth frame within the deadline (5 s)."""

    code = "auth_timeout"
    hint = 'send {"type":"auth","token":"<access token>"} right after connecting'


class PrincipalMismatch(AuthError):
    """Raised when a refresh auth frame on an open connection names a different user."""

    code = "principal_mismatch"
    hint = "open a new connection to act as another user"


class ProviderUnavailable(AuthError):
    """Raised when no signing keys were ever loaded because the provider is unreachable.

    A *Broken* condition (the infrastructure failed, not the client): 503, close 1013.
    """

    status = 503
    close_code = 1013
    code = "identity_unavailable"
    hint = "retry shortly"


class OriginRejected(Refusal):
    """Raised when a browser ``Origin`` is not one of the configured CORS origins."""

    status = 403
    close_code = 1008
    code = "origin_rejected"
    hint = "open Parley from an allowed origin (CORS_ORIGINS)"


class Forbidden(Refusal):
    """Raised by the ``require_*`` policy checks: authenticated but not allowed."""

    status = 403
    close_code = 1008
    code = "forbidden"
    hint = "ask the thread's creator for access"
