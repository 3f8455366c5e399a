"""Turns per user per minute (assistants._limits), with explicit times."""

from __future__ import annotations

import pytest

from assistants import TurnRate


def test_a_user_over_the_rate_is_told_how_long_to_wait() -> None:
    rate = TurnRate(per_minute=3)
    assert [rate.check("alice", t) for t in (0.0, 10.0, 20.0)] == [None, None, None]
    assert rate.check("alice", 30.0) == pytest.approx(30.0)
    assert rate.check("bob", 30.0) is None  # per user
    assert rate.check("alice", 60.0) is None  # the first start left the window
    assert rate.check("alice", 61.0) == pytest.approx(9.0)


def test_idle_users_are_dropped_so_memory_stays_bounded() -> None:
    rate = TurnRate(per_minute=2)
    for i in range(1000):
        rate.check(f"user{i}", 0.0)
    assert len(rate) == 1000
    rate.check("late", 120.0)
    rate.check("later", 120.0)
    assert len(rate) <= 2


def test_a_rate_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^per_minute must be at least 1$"):
        TurnRate(per_minute=0)
