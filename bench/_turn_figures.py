"""Figures of the assistants scenario, without I/O: percentiles, Parley's added latency, the
order and prompts of the alternating rounds.

A `Stream` is one reply as a client saw it: seconds from the request to each text piece and
to its end. For Parley the request is the user's `POST /api/messages` and the pieces are the
`turn` delta frames at a WebSocket subscriber; for the model alone it is the chat-completions
POST and the pieces are its server-sent chunks. Parley's added latency is what the first is
slower than the second: both include the model's own time to first token, which cancels out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Added",
    "RoundPlan",
    "Stream",
    "added_latency",
    "percentile",
    "question",
    "round_plan",
]


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100), interpolated between the closest ranks (as numpy's
    default); NaN for no values."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Stream:
    """One streamed reply, in seconds from its request."""

    pieces: tuple[float, ...]
    end: float
    text: str = ""
    # Parley only: its `started` frame, sent before the model is asked
    started: float = math.nan

    @property
    def first(self) -> float:
        return self.pieces[0] if self.pieces else math.nan

    def gaps(self) -> list[float]:
        """Seconds between consecutive pieces."""
        return [b - a for a, b in zip(self.pieces, self.pieces[1:], strict=False)]


@dataclass(frozen=True, slots=True)
class Added:
    """Time to first token through Parley and from the model directly, in seconds."""

    parley_p50: float
    parley_p99: float
    direct_p50: float
    direct_p99: float
    # Parley's percentile minus the model's: what Parley adds to the first token
    added_p50: float
    added_p99: float
    # Percentiles of the per-round differences (the two requests of one round ran back to
    # back, so they share the machine's load of that moment)
    paired_p50: float
    paired_p99: float

    @property
    def ratio_p50(self) -> float:
        return self.parley_p50 / self.direct_p50 if self.direct_p50 else math.nan


def added_latency(parley: Sequence[float], direct: Sequence[float]) -> Added:
    """Parley's added latency from the two sides' times to first token, round by round
    (`parley[i]` and `direct[i]` ran in the same round)."""
    if len(parley) != len(direct):
        raise ValueError(f"{len(parley)} Parley rounds against {len(direct)} direct ones")
    paired = [p - d for p, d in zip(parley, direct, strict=True)]
    p50, p99 = percentile(parley, 50), percentile(parley, 99)
    d50, d99 = percentile(direct, 50), percentile(direct, 99)
    return Added(
        parley_p50=p50,
        parley_p99=p99,
        direct_p50=d50,
        direct_p99=d99,
        added_p50=p50 - d50,
        added_p99=p99 - d99,
        paired_p50=percentile(paired, 50),
        paired_p99=percentile(paired, 99),
    )


def question(n: int) -> str:
    """A request that makes SmolLM2 write past any small reply limit; `n` (three digits for
    every round the bench runs) makes each prompt new, so the model server's prompt cache
    serves both sides alike: the shared prefix (system prompt, sender) and never the rest."""
    return f"Count from {n} to {n + 100}, separated by commas."


@dataclass(frozen=True, slots=True)
class RoundPlan:
    parley_first: bool
    parley_n: int
    direct_n: int


def round_plan(round_no: int, base: int = 200) -> RoundPlan:
    """Round `round_no`: which side goes first (alternating, so neither always runs on the
    heels of the other), and the numbers of their questions (two new ones per round, taken
    in turn by each side)."""
    a, b = base + 2 * round_no, base + 2 * round_no + 1
    if b + 100 > 999:
        raise ValueError(f"round {round_no}: the questions would leave three digits")
    even = round_no % 2 == 0
    return RoundPlan(parley_first=even, parley_n=a if even else b, direct_n=b if even else a)
