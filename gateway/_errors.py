"""Errors the gateway turns into HTTP answers and WebSocket close codes.

    ApiError                    base: status, machine code, human message, optional field
    ├── ValidationFailed        422: a body or query field is wrong (names the field)
    ├── Unauthenticated         401: no token, or the token was refused
    ├── Forbidden               403: the user is not allowed to do this (not a member...)
    ├── NotFound                404: no such thread
    ├── Conflict                409: a client_msg_id reused with different content
    ├── PayloadTooLarge         413: body or text over the limit
    ├── RateLimited             429: too many messages; retry_after_s says when to retry
    └── Unavailable             503: draining or overloaded, or Kafka/the store is not ready

Every answer has the body ``{"error": {"code", "message", "field"?, "retry_after_s"?}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ApiError",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "Unauthenticated",
    "Unavailable",
    "ValidationFailed",
]


class ApiError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self, message: str, *, field: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after_s = retry_after_s

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        if self.retry_after_s is not None:
            error["retry_after_s"] = round(self.retry_after_s, 3)
        return {"error": error}


class ValidationFailed(ApiError):
    """Raised when a request body or query parameter fails validation."""

    status = 422
    code = "invalid"


class Unauthenticated(ApiError):
    """Raised when the request carries no usable access token."""

    status = 401
    code = "unauthenticated"


class Forbidden(ApiError):
    """Raised when the authenticated user may not act on the resource."""

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


class PayloadTooLarge(ApiError):
    """Raised when the body or the message text exceeds its limit."""

    status = 413
    code = "too_large"


class RateLimited(ApiError):
    """Raised when the user exceeded the message rate; retry_after_s is set."""

    status = 429
    code = "rate_limited"


class Unavailable(ApiError):
    """Raised while draining, when overloaded, or before Kafka and the store are ready."""

    status = 503
    code = "unavailable"
