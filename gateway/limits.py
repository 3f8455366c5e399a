"""Per-user message rate (token bucket); open connections are counted in gateway.ws.

``UserRateLimiter.check`` raises ``RateLimited`` (429, Retry-After), defined with every other
refusal in ``protocol.refusals``.

Clocks are injectable (``trio.current_time`` by default) so tests run on Trio's mock clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from protocol.refusals import RateLimited

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["UserRateLimiter"]

Clock = Callable[[], float]


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
