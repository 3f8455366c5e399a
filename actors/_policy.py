"""Restart policy pieces shared by supervisors and registries: strategy, intensity, backoff."""

from __future__ import annotations

import enum
import random
from collections import deque
from dataclasses import dataclass

__all__ = ["Backoff", "Restart", "Strategy"]

_POLICIES: dict[tuple[object, float], ChildPolicy] = {}


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one fails."""

    ONE_FOR_ONE = "one_for_one"  #: only the failed child
    ONE_FOR_ALL = "one_for_all"  #: every child (stopped in reverse order, started in order)
    REST_FOR_ONE = "rest_for_one"  #: the failed child and those started after it


class Restart(enum.Enum):
    """When a child is restarted after its incarnation ended on its own."""

    PERMANENT = "permanent"  #: always, even after a normal return
    TRANSIENT = "transient"  #: only after a failure
    TEMPORARY = "temporary"  #: never


@dataclass(frozen=True, slots=True)
class ChildPolicy:
    """How a supervisor treats one child; instances are shared (one slot per child)."""

    restart: Restart
    shutdown: float

    @staticmethod
    def of(restart: Restart, shutdown: float) -> ChildPolicy:
        if restart is Restart.TRANSIENT and shutdown == 5.0:
            return _DEFAULT
        key = (restart, shutdown)
        policy = _POLICIES.get(key)
        if policy is None:
            policy = _POLICIES[key] = ChildPolicy(restart, shutdown)
        return policy


_DEFAULT = ChildPolicy(Restart.TRANSIENT, 5.0)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before the n-th restart within the intensity window: exponential with jitter.

    delay = min(maximum, initial * multiplier**(n-1)) * (1 - jitter * U[0,1)), so that
    siblings failing together (a lost broker) do not all come back in the same instant.
    """

    initial: float = 0.05
    maximum: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.maximum, self.initial * self.multiplier ** max(0, attempt - 1))
        return base * (1.0 - self.jitter * rng.random())


class Intensity:
    """At most `max_restarts` restarts within any `within` seconds."""

    __slots__ = ("_times", "max_restarts", "within")

    def __init__(self, max_restarts: int, within: float) -> None:
        if max_restarts < 0 or within <= 0:
            raise ValueError("max_restarts must be >= 0 and within > 0")
        self.max_restarts = max_restarts
        self.within = within
        self._times: deque[float] = deque()

    def allow(self, now: float) -> int:
        """Record a restart at `now`; return its rank in the window, or 0 if over the limit."""
        times = self._times
        while times and times[0] <= now - self.within:
            times.popleft()
        if len(times) >= self.max_restarts:
            return 0
        times.append(now)
        return len(times)

    def reset(self) -> None:
        self._times.clear()
