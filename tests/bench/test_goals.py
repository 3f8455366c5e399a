"""Issue 19's goal ratios from result rows (bench/_goals.py)."""

from __future__ import annotations

import pytest

from bench._goals import GOALS, evaluate
from bench._results import Row

_GO = "go peer (franz-go+mongo+gorilla)"


def _row(scenario: str, metric: str, peer: str, mine: float, theirs: float) -> Row:
    return Row(scenario, metric, "x", "lower", [mine], peer=peer, peer_values=[theirs])


def test_ratios_of_the_rows_present_and_whether_each_goal_is_met() -> None:
    rows = [
        _row("e2e", "CPU per message, all processes summed", _GO, 3.0, 2.0),
        _row("e2e", "max rate with p99 <= 50 ms", _GO, 100.0, 400.0),
        _row("e2e", "max rate with p99 <= 50 ms", "uvicorn+starlette", 100.0, 100.0),
    ]
    got = evaluate(rows)
    assert [(r.goal.text, r.ratio, r.met) for r in got] == [
        ("e2e stack CPU per message, Parley / Go peer", pytest.approx(1.5), True),
        ("e2e max rate with p99 <= 50 ms, Parley / Go peer", pytest.approx(0.25), False),
    ]
    assert (
        got[1].line()
        == "e2e max rate with p99 <= 50 ms, Parley / Go peer: 0.25 (goal >= 0.8) not met"
    )


def test_a_goal_without_a_peer_value_is_left_out() -> None:
    rows = [_row("e2e", "CPU per message, all processes summed", _GO, 3.0, 0.0)]
    assert evaluate(rows) == []
    # Left out for the missing peer value, not for want of a goal on that row.
    assert any(
        g.scenario == "e2e" and g.peer == _GO and "CPU per message, all" in g.metric for g in GOALS
    )


def test_the_assistants_goal_divides_by_the_run_without_turns_not_by_the_model_only_one() -> None:
    metric = "e2e p99 at 200 msg/s, 4 turns streaming"
    rows = [
        _row("assistants", metric, "parley, 4 streams model-direct", 30.0, 25.0),
        _row("assistants", metric, "parley, no turns", 30.0, 20.0),
    ]
    got = evaluate(rows)
    assert [(r.goal.text, r.ratio, r.met) for r in got] == [
        ("e2e p99 with 4 assistant turns streaming / without", pytest.approx(1.5), False)
    ]
