"""How many turns a user may start, without I/O: a sliding minute per user.

A turn costs the model server seconds of CPU where a message costs milliseconds, so turns get
a limit of their own beside the message rate: `TurnRate.check(user, now)` answers None (go)
or the seconds until that user may start another turn (the API answers 429 with
Retry-After). Concurrency is the other half: turns past the process's limit wait for a free
place in a `trio.CapacityLimiter` (queued, not refused), sized to the model server's slots.

Memory is bounded: a user's entry holds at most `per_minute` times, and users idle for a
whole window are dropped every `per_minute` checks.
"""

from __future__ import annotations

from collections import deque

__all__ = ["TurnRate"]

WINDOW_S = 60.0


class TurnRate:
    def __init__(self, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self._starts: dict[str, deque[float]] = {}
        self._checks = 0

    def check(self, user_id: str, now: float) -> float | None:
        """Record a turn start for `user_id` at `now` (seconds), or say how long to wait."""
        self._checks += 1
        if self._checks % self.per_minute == 0:
            self._prune(now)
        starts = self._starts.setdefault(user_id, deque())
        while starts and starts[0] <= now - WINDOW_S:
            starts.popleft()
        if len(starts) >= self.per_minute:
            return starts[0] + WINDOW_S - now
        starts.append(now)
        return None

    def _prune(self, now: float) -> None:
        idle = [u for u, s in self._starts.items() if not s or s[-1] <= now - WINDOW_S]
        for user_id in idle:
            del self._starts[user_id]

    def __len__(self) -> int:
        """Users with an entry (for tests and metrics)."""
        return len(self._starts)
