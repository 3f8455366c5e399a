"""Open WebSockets per user: the one limit that belongs to the WebSocket side alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from protocol.refusals import TooManyConnections

__all__ = ["ConnectionLimiter"]


class ConnectionLimiter:
    """Counts open WebSockets per user; ``acquire`` refuses beyond ``max_per_user``."""

    def __init__(self, max_per_user: int) -> None:
        if max_per_user < 1:
            raise ValueError("max_per_user must be >= 1")
        self.max_per_user = max_per_user
        self._open: dict[str, int] = {}

    def count(self, user_id: str) -> int:
        return self._open.get(user_id, 0)

    def acquire(self, user_id: str) -> None:
        current = self._open.get(user_id, 0)
        if current >= self.max_per_user:
            raise TooManyConnections(f"this user already has {current} open connections")
        self._open[user_id] = current + 1

    def release(self, user_id: str) -> None:
        current = self._open.get(user_id, 0)
        if current <= 1:
            self._open.pop(user_id, None)
        else:
            self._open[user_id] = current - 1

    @contextmanager
    def connection(self, user_id: str) -> Iterator[None]:
        """Hold one slot for the body's duration, released however the body ends."""
        self.acquire(user_id)
        try:
            yield
        finally:
            self.release(user_id)
