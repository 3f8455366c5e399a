"""Errors of the chat API, in the same tree as the identity refusals.

Every refusal the gateway can give derives from ``gateway.auth.Refusal`` (status, close
code, machine code, message, Retry-After), so REST and WebSocket answer all of them with one
``except Refusal``. The identity and limit refusals live in ``gateway.auth`` and
``gateway.limits``; these are the ones about chat resources:

    Refusal (gateway.auth)
    └── ApiError                base: adds the offending ``field``
    ├── ValidationFailed        422: a body or query field is wrong (names the field)
    ├── Forbidden               403: the user is not allowed to do this (not a member...)
    ├── NotFound                404: no such thread
    ├── Conflict                409: a client_msg_id reused with different content
    ├── PayloadTooLarge         413: body or text over the limit
    └── Unavailable             503: draining or overloaded, or Kafka/the store is not ready

Every answer has the body ``{"error": {"code", "message", "field"?, "retry_after_s"?}}``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from gateway.auth._errors import Refusal

__all__ = [
    "ApiError",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "Unavailable",
    "ValidationFailed",
]


class ApiError(Refusal):
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
    close_code = 1009
    code = "too_large"



class Unavailable(ApiError):
    """Raised while draining, when overloaded, or before Kafka and the store are ready."""

    status = 503
    close_code = 1013
    code = "unavailable"
