"""Per-user limits: message rate (token bucket) and sizes (open connections: gateway.ws).

Every refusal is a ``gateway.auth.Refusal``, so the transports answer all of them the same
way: REST with ``status`` + ``headers()`` + ``to_json()``, WebSocket with
``to_ws_frame()`` then close ``close_code``.

    Refusal (gateway.auth)
    └── LimitExceeded
        ├── RateLimited           429 / 1008, Retry-After: too many messages per second
        ├── TooManyConnections    429 / 1008: too many open WebSockets for one user
        └── TooLarge              413 / 1009
            ├── BodyTooLarge        REST body over PARLEY_MAX_BODY_BYTES
            ├── FrameTooLarge       WebSocket frame over PARLEY_MAX_WS_FRAME_BYTES
            └── TextTooLarge        message text over PARLEY_MAX_TEXT_BYTES (UTF-8)

Clocks are injectable (``trio.current_time`` by default) so tests run on Trio's mock clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from gateway.auth import Refusal

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = [
    "BodyTooLarge",
    "FrameTooLarge",
    "LimitExceeded",
    "RateLimited",
    "SizeLimits",
    "TextTooLarge",
    "TooLarge",
    "TooManyConnections",
    "UserRateLimiter",
]

Clock = Callable[[], float]


class LimitExceeded(Refusal):
    """Base of the limit refusals."""

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


class TooLarge(LimitExceeded):
    """Base of the size refusals (413, close 1009 "message too big")."""

    status = 413
    close_code = 1009
    code = "too_large"
    hint = "send less data"


class BodyTooLarge(TooLarge):
    """Raised when a REST body exceeds ``PARLEY_MAX_BODY_BYTES``."""

    code = "body_too_large"
    hint = "send a smaller request body"


class FrameTooLarge(TooLarge):
    """Raised when a WebSocket frame exceeds ``PARLEY_MAX_WS_FRAME_BYTES``."""

    code = "frame_too_large"
    hint = "send smaller frames"


class TextTooLarge(TooLarge):
    """Raised when message text exceeds ``PARLEY_MAX_TEXT_BYTES`` once UTF-8 encoded."""

    code = "text_too_large"
    hint = "split the text into several messages"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_at: float


class UserRateLimiter:
    """A token bucket per user: ``rate_per_s`` refill, ``burst`` capacity.

    Idle users' buckets refill to full, which is the same as having none, so they are
    swept (every ``sweep_every_s``) to keep memory bounded by the recently active users.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        clock: Clock = trio.current_time,
        sweep_every_s: float = 60.0,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._sweep_every_s = sweep_every_s
        self._next_sweep: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> UserRateLimiter:
        return cls(
            settings.user_rate_per_s,
            settings.user_rate_burst,
            clock=clock if clock is not None else trio.current_time,
        )

    def _refilled(self, user_id: str, now: float) -> _Bucket:
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
        elapsed = max(0.0, now - bucket.updated_at)
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate_per_s)
        bucket.updated_at = now
        return bucket

    def check(self, user_id: str, cost: float = 1.0) -> None:
        """Take ``cost`` tokens or raise ``RateLimited`` with the wait until they exist."""
        if not 0 < cost <= self.burst:
            raise ValueError("cost must be > 0 and <= burst")
        now = self._clock()
        self._maybe_sweep(now)
        bucket = self._refilled(user_id, now)
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return
        wait = (cost - bucket.tokens) / self.rate_per_s
        raise RateLimited(
            f"more than {self.rate_per_s:g} messages per second (burst {self.burst})",
            retry_after_s=wait,
        )

    def available(self, user_id: str) -> float:
        """Tokens the user could spend now (for tests and metrics)."""
        return self._refilled(user_id, self._clock()).tokens

    def _maybe_sweep(self, now: float) -> None:
        if self._next_sweep is None:
            self._next_sweep = now + self._sweep_every_s
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_every_s
        full_after = self.burst / self.rate_per_s
        for user_id in [u for u, b in self._buckets.items() if now - b.updated_at >= full_after]:
            del self._buckets[user_id]

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(frozen=True, slots=True)
class SizeLimits:
    max_body_bytes: int
    max_frame_bytes: int
    max_text_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SizeLimits:
        return cls(settings.max_body_bytes, settings.max_ws_frame_bytes, settings.max_text_bytes)

    def check_body(self, size: int | None) -> None:
        """``size`` is Content-Length or the bytes read so far (None: unknown, passes)."""
        if size is not None and size > self.max_body_bytes:
            raise BodyTooLarge(f"the request body is over {self.max_body_bytes} bytes")

    def check_frame(self, size: int) -> None:
        if size > self.max_frame_bytes:
            raise FrameTooLarge(f"the frame is over {self.max_frame_bytes} bytes")

    def check_text(self, text: str) -> None:
        # Cheap bound first: a str of n code points is at most 4n UTF-8 bytes.
        if len(text) * 4 <= self.max_text_bytes:
            return
        if len(text.encode("utf-8", errors="surrogatepass")) > self.max_text_bytes:
            raise TextTooLarge(f"the message text is over {self.max_text_bytes} bytes")
