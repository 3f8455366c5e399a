"""Round: periodic work over every connection, handed out in slices over its period."""

from __future__ import annotations

import pytest

from gateway.ws._rounds import Round


def test_a_pass_hands_out_every_member_once_spread_over_the_period() -> None:
    members = set(range(100))
    rnd: Round[int] = Round(1.0)
    handed: list[int] = []
    sizes = []
    for step in range(11):  # 0.0, 0.1 ... 1.0 s: the second pass starts at 1.0
        got = rnd.due(members, step / 10)
        sizes.append(len(got))
        handed.extend(got)
    assert sorted(handed) == list(range(100))  # each once, the last slice at 1.0
    assert max(sizes) <= 11  # slices, never the whole set in one step


def test_a_member_that_left_is_skipped_and_one_that_came_waits_for_the_next_pass() -> None:
    members = {1, 2, 3, 4}
    rnd: Round[int] = Round(1.0)
    assert rnd.due(members, 0.0) == []
    members.discard(4)
    members.add(5)
    first = rnd.due(members, 0.999)
    assert sorted(first) == [1, 2, 3]
    second = rnd.due(members, 1.0) + rnd.due(members, 1.999)
    assert sorted(second) == [1, 2, 3, 5]


def test_a_late_call_finishes_the_old_pass_before_starting_the_next() -> None:
    members = {1, 2, 3, 4}
    rnd: Round[int] = Round(1.0)
    assert rnd.due(members, 0.0) == []
    assert rnd.due(members, 0.5) == [1, 2]
    # The loop was stalled past the period: the rest of the old pass comes at once, and the
    # new pass starts from there.
    assert rnd.due(members, 5.0) == [3, 4]
    assert rnd.due(members, 6.0) == [1, 2, 3, 4]


def test_the_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="period_s"):
        Round(0.0)
