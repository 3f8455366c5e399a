"""Every refusal the API answers, with the status, close code and machine code it answers with.

REST and WebSocket answer all of them one way, so one ``except Refusal`` serves both: REST
with ``status`` + ``headers()`` + ``to_json()``; WebSocket with ``to_ws_frame()`` and, when the
connection must end, a close with ``close_code`` and ``close_reason``. The numbers and codes
below are the API's contract (external clients and the tests pin them), which is why they sit
on the bottom floor beside ``protocol.events``: free of I/O, importable from every layer.

    class                          HTTP close code
    Refusal                        400  1008  refused               base: to_json(), headers()
    ├── AuthError                  401  1008  unauthenticated       who is asking is unknown
    │   ├── InvalidToken           401  1008  invalid_token         + WWW-Authenticate
    │   │   ├── MissingToken       401  1008  missing_token         no credentials at all
    │   │   ├── MalformedToken     401  1008  invalid_token         not a sane compact JWS
    │   │   ├── UnsafeTokenHeader  401  1008  invalid_token         alg none/HS*, own keys...
    │   │   ├── UnknownSigningKey  401  1008  invalid_token         kid not in the JWKS
    │   │   ├── BadSignature       401  1008  invalid_token         signature does not verify
    │   │   ├── ExpiredToken       401  1008  token_expired         exp passed (also mid-connection)
    │   │   ├── ClaimRejected      401  1008  invalid_token         iss/aud/sub/iat/nbf wrong
    │   │   └── WrongTokenType     401  1008  invalid_token         an ID token as access token
    │   ├── AuthFrameRejected      401  1008  auth_required         bad WS auth frame/subprotocol
    │   ├── AuthTimeout            401  1008  auth_timeout          no WS auth frame in time
    │   ├── PrincipalMismatch      401  1008  principal_mismatch    a refresh names another user
    │   └── ProviderUnavailable    503  1013  identity_unavailable  *Broken*: no keys, no provider
    ├── OriginRejected             403  1008  origin_rejected       Origin not in CORS_ORIGINS
    ├── LimitExceeded              429  1008  limit_exceeded        base of the per-user limits
    │   ├── RateLimited            429  1008  rate_limited          + Retry-After
    │   └── TooManyConnections     429  1008  too_many_connections  one user's WebSocket cap
    └── ApiError                   400  1008  bad_request           base: names the ``field``
        ├── ValidationFailed       422  1007  invalid               a body or query field
        ├── Forbidden              403  1008  forbidden             not a member / not creator
        │   └── AdminRequired      403  1008  admin_required        operations API, not an admin
        ├── NotFound               404  1008  not_found             no such thread
        │   └── ProcessGone        404  1008  process_gone          command to a gone process
        ├── Conflict               409  1008  conflict              client_msg_id reused
        │   ├── NotRestartable     409  1008  not_restartable       a service, the root...
        │   └── ArchivedThread     409  1008  thread_archived       a post or edit to an
        │                                                           archived thread
        ├── PayloadTooLarge        413  1009  too_large             text over the byte limit
        ├── Unavailable            503  1013  unavailable           draining, overloaded, or
        │   │                                                       *Broken*: Kafka/store down
        │   ├── CommandNotTaken    503  1013  command_not_taken     the process did not take
        │   │                                                       an operator command in time
        │   └── PluginUnavailable  503  1013  plugin_unavailable    a plugin failed/stopped, or
        │                                                           its host is unreachable
        ├── PluginFailed           500  1011  plugin_error          a plugin's route raised or
        │                                                           answered no JSON
        └── PluginTimeout          504  1011  plugin_timeout        a plugin's route overran

Bodies are ``{"error": {"code", "message", "field"?, "retry_after_s"?}}`` and WebSocket error
frames ``{"type": "error", "code", "message", "field"?, "retry_after_s"?}``. The message is the
reason (what happened) then the class's hint (what to do). No message carries token material:
the reasons are fixed sentences.

The 503s are *Broken* (trio's word): the infrastructure failed, not the client, who may
retry. ``PluginFailed`` and ``PluginTimeout`` are a plugin's own bug answered for it under
``/api/plugins/{id}/...`` (the plugin's log has the details). Everything else refuses the
client's request as it stands.

Not in this tree: ``gateway.ws.FrameRejected`` and ``CommandInvalid``, the WebSocket reader's
parse outcomes. They never travel as refusals: the reader turns ``FrameRejected`` into a close
at once, and hands ``CommandInvalid`` to the connection as a value, answered with an ``invalid``
error frame while the connection stays open. They have no HTTP status, and no ``except
Refusal`` should ever see a parse failure, so they stay with the parser in ``gateway.ws``.
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

__all__ = [
    "AdminRequired",
    "ApiError",
    "ArchivedThread",
    "AuthError",
    "AuthFrameRejected",
    "AuthTimeout",
    "BadSignature",
    "ClaimRejected",
    "CommandNotTaken",
    "Conflict",
    "ExpiredToken",
    "Forbidden",
    "InvalidToken",
    "LimitExceeded",
    "MalformedToken",
    "MissingToken",
    "NotFound",
    "NotRestartable",
    "OriginRejected",
    "PayloadTooLarge",
    "PluginFailed",
    "PluginTimeout",
    "PluginUnavailable",
    "PrincipalMismatch",
    "ProcessGone",
    "ProviderUnavailable",
    "RateLimited",
    "Refusal",
    "TooManyConnections",
    "Unavailable",
    "UnknownSigningKey",
    "UnsafeTokenHeader",
    "ValidationFailed",
    "WrongTokenType",
]

# RFC 6455 limits a close frame's reason to 123 bytes of UTF-8.
_MAX_CLOSE_REASON_BYTES = 123


class Refusal(Exception):
    """Base of every answer that refuses a request or closes a connection; never raised itself.

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


# --- identity -------------------------------------------------------------------------------


class AuthError(Refusal):
    """Base of the identity refusals: raised when who is asking could not be established."""

    status = 401
    close_code = 1008
    code = "unauthenticated"
    hint = "sign in again and send a fresh access token"


class InvalidToken(AuthError):
    """Base of the token refusals: raised by ``TokenVerifier.verify`` for an unacceptable token."""

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

    A *Broken* condition (the infrastructure failed, not the client): 503, close 1013. Never
    raised while keys from an earlier fetch are still cached.
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


# --- per-user limits ------------------------------------------------------------------------


class LimitExceeded(Refusal):
    """Base of the per-user limits: raised when a user asks for more than their share."""

    status = 429
    close_code = 1008
    code = "limit_exceeded"


class RateLimited(LimitExceeded):
    """Raised by ``UserRateLimiter.check`` when the user's bucket is empty."""

    code = "rate_limited"
    hint = "wait retry_after_s seconds before sending again"


class TooManyConnections(LimitExceeded):
    """Raised by ``ConnectionLimiter.acquire`` when the user has the maximum open."""

    code = "too_many_connections"
    hint = "close another tab or connection, then reconnect"


# --- chat resources -------------------------------------------------------------------------


class ApiError(Refusal):
    """Base of the refusals about chat resources: raised with the offending ``field`` named."""

    status: ClassVar[int] = 400
    close_code: ClassVar[int] = 1008
    code: ClassVar[str] = "bad_request"

    def __init__(
        self, message: str, *, field: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.field is not None:
            out["error"]["field"] = self.field
        return out

    def to_ws_frame(self) -> str:
        frame = json.loads(super().to_ws_frame())
        if self.field is not None:
            frame["field"] = self.field
        return json.dumps(frame, separators=(",", ":"))


class ValidationFailed(ApiError):
    """Raised when a request body or query parameter fails validation."""

    status = 422
    close_code = 1007
    code = "invalid"


class Forbidden(ApiError):
    """Raised when the authenticated user may not act on the thread.

    Not a member (reading, posting, subscribing), or not its creator (changing its members).
    """

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """Raised when the addressed thread does not exist."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """Raised when a client_msg_id is reused for a different message."""

    status = 409
    code = "conflict"


class ArchivedThread(Conflict):
    """Raised when a message is posted to (or edited in) an archived thread: it stays
    readable, its history and deletes still work, but it takes nothing new."""

    code = "thread_archived"
    hint = "the thread is archived: it is read-only"


class PayloadTooLarge(ApiError):
    """Raised when the message text exceeds ``PARLEY_MAX_TEXT_BYTES`` once UTF-8 encoded."""

    status = 413
    close_code = 1009
    code = "too_large"


class Unavailable(ApiError):
    """Raised while draining, when overloaded, or before Kafka and the store are ready.

    Overload and the missing services are *Broken* (retry later); draining is this gateway
    closing (retry on another).
    """

    status = 503
    close_code = 1013
    code = "unavailable"


# --- operations -----------------------------------------------------------------------------


class AdminRequired(Forbidden):
    """Raised by every operations endpoint when the token lacks the admin claim
    (``PARLEY_ADMIN_CLAIM`` = ``PARLEY_ADMIN_VALUE``)."""

    code = "admin_required"
    hint = "sign in as an operator (a token with the admin claim)"


class ProcessGone(NotFound):
    """Raised when an operations request names a process that is unknown, gone (stopped
    announcing) or stopped: a command to it would never be taken."""

    code = "process_gone"


class NotRestartable(Conflict):
    """Raised when an operator asks to restart what may not be restarted: the root, a service
    (its stop is a drain), a temporary actor, or a supervisor holding one of those."""

    code = "not_restartable"


class CommandNotTaken(Unavailable):
    """Raised when a live process did not take an operator command within the heartbeat
    timeout (it may take it later: the command stays queued). *Broken*: retry or look."""

    code = "command_not_taken"


# --- plugins --------------------------------------------------------------------------------


class PluginUnavailable(Unavailable):
    """Raised when a plugin HTTP route is called while the plugin is failed, refused or
    stopped on the host that would run it (the reason names its last error), or while no
    host running it can be reached. *Broken*: retry, or ask an operator to look."""

    code = "plugin_unavailable"


class PluginFailed(ApiError):
    """Raised when a plugin's HTTP route handler raised, or answered what cannot be sent (not
    JSON, a status outside 100-599, too large): the plugin's bug, logged to its log and never
    counted against its restart policy."""

    status = 500
    close_code = 1011
    code = "plugin_error"


class PluginTimeout(ApiError):
    """Raised when a plugin's HTTP route handler did not answer within the plugin's
    ``hook_timeout_s``, or its host did not answer within that plus a grace (a held loop)."""

    status = 504
    close_code = 1011
    code = "plugin_timeout"
