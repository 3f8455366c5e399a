"""Issues 15, 16 and 19's goals as ratios taken from one run's rows, for `latest.md` and the
README.

Each goal names its rows by scenario, metric and peer; a goal whose rows the run did not
produce is left out (a selective run says nothing about it). History pages are measured by
`python -m bench.history_scale`, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench._results import Row, summarise

__all__ = ["GOALS", "Goal", "GoalResult", "evaluate"]

_GO = "go peer (franz-go+mongo+gorilla)"
_STACK = "CPU per message, all processes summed"
_NO_PLUGIN = "parley, no plugin"
_NO_TURNS = "parley, no turns"


@dataclass(frozen=True)
class Goal:
    text: str
    scenario: str
    metric: str  # a prefix: the e2e rows carry the rate in their names
    peer: str
    at_most: float | None = None
    at_least: float | None = None


@dataclass(frozen=True)
class GoalResult:
    goal: Goal
    ratio: float

    @property
    def met(self) -> bool:
        g = self.goal
        return (g.at_most is None or self.ratio <= g.at_most) and (
            g.at_least is None or self.ratio >= g.at_least
        )

    def line(self) -> str:
        g = self.goal
        bound = f"<= {g.at_most:g}" if g.at_most is not None else f">= {g.at_least:g}"
        return f"{g.text}: {self.ratio:.2f} (goal {bound}) {'met' if self.met else 'not met'}"


GOALS = (
    Goal(
        "e2e p99 with a busy-looping plugin / without",
        "plugins",
        "e2e p99 at",
        _NO_PLUGIN,
        at_most=1.1,
    ),
    Goal(
        "e2e max rate without a plugin / with a busy-looping one",
        "plugins",
        "e2e max rate",
        _NO_PLUGIN,
        at_least=1 / 1.1,
    ),
    Goal(
        "e2e p99 with 4 assistant turns streaming / without",
        "assistants",
        "e2e p99 at",
        _NO_TURNS,
        at_most=1.1,
    ),
    Goal("e2e stack CPU per message, Parley / Go peer", "e2e", _STACK, _GO, at_most=1.5),
    Goal(
        "REST ingest stack CPU per message, Parley / Go peer",
        "ingest",
        f"{_STACK}, REST",
        _GO,
        at_most=1.5,
    ),
    Goal("e2e max rate with p99 <= 50 ms, Parley / Go peer", "e2e", "max rate", _GO, at_least=0.8),
    Goal(
        "REST posts accepted/s, Parley / Kafka-acked uvicorn",
        "ingest",
        "REST POSTs accepted/s, peer Kafka-acked",
        "uvicorn+starlette+kafka",
        at_least=0.5,
    ),
    Goal(
        "fan-out deliveries/s, Parley / websockets",
        "fanout",
        "deliveries/s",
        "websockets",
        at_least=1.5,
    ),
)


def evaluate(rows: Sequence[Row], goals: Sequence[Goal] = GOALS) -> list[GoalResult]:
    out = []
    for goal in goals:
        for row in rows:
            if (
                row.scenario == goal.scenario
                and row.peer == goal.peer
                and row.metric.startswith(goal.metric)
            ):
                value, _ = summarise(row.values)
                peer_value, _ = summarise(row.peer_values)
                if value is not None and peer_value:
                    out.append(GoalResult(goal, value / peer_value))
                break
    return out
