"""The assistants scenario's figures (bench/_turn_figures.py): pure logic, no servers."""

from __future__ import annotations

import math

import pytest

from bench._turn_figures import Stream, added_latency, percentile, question, round_plan


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    # rank (4 - 1) * 0.99 = 2.97: 3 + 0.97 * (4 - 3)
    assert percentile(values, 99) == pytest.approx(3.97)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_percentile_refuses_a_rank_outside_0_to_100() -> None:
    with pytest.raises(ValueError, match=r"^percentile 101 is outside 0\.\.100$"):
        percentile([1.0], 101)


def test_added_latency_is_parley_minus_the_model_both_as_percentiles_and_per_round() -> None:
    # Round i: Parley took parley[i] to its first frame, the model direct[i] to its first chunk.
    parley = [0.30, 0.35, 0.50, 0.32]
    direct = [0.25, 0.24, 0.26, 0.27]
    got = added_latency(parley, direct)
    assert got.parley_p50 == pytest.approx(0.335)
    assert got.direct_p50 == pytest.approx(0.255)
    assert got.added_p50 == pytest.approx(0.08)
    assert got.added_p99 == pytest.approx(percentile(parley, 99) - percentile(direct, 99))
    # Per round: 0.05, 0.11, 0.24, 0.05 -> sorted 0.05, 0.05, 0.11, 0.24
    assert got.paired_p50 == pytest.approx(0.08)
    assert got.paired_p99 == pytest.approx(0.11 + 0.97 * (0.24 - 0.11))
    assert got.ratio_p50 == pytest.approx(0.335 / 0.255)


def test_added_latency_needs_one_direct_reply_per_parley_reply() -> None:
    with pytest.raises(ValueError, match=r"^2 Parley rounds against 1 direct ones$"):
        added_latency([0.3, 0.4], [0.2])


def test_a_stream_knows_its_first_piece_and_the_gaps_between_pieces() -> None:
    stream = Stream((0.25, 0.27, 0.32), end=0.4, text="1, 2")
    assert stream.first == 0.25
    assert stream.gaps() == pytest.approx([0.02, 0.05])
    assert math.isnan(Stream((), end=0.1).first)
    assert Stream((), end=0.1).gaps() == []


def test_rounds_alternate_who_goes_first_and_never_repeat_a_question() -> None:
    plans = [round_plan(r) for r in range(40)]
    assert [p.parley_first for p in plans[:4]] == [True, False, True, False]
    numbers = [n for p in plans for n in (p.parley_n, p.direct_n)]
    assert len(set(numbers)) == len(numbers)
    # Each side takes the lower number of its pair in every other round.
    assert sum(p.parley_n < p.direct_n for p in plans) == 20
    # Same shape for every prompt: three-digit numbers only.
    assert {len(str(n)) for n in numbers} == {3}
    assert question(200) == "Count from 200 to 300, separated by commas."


def test_a_round_whose_question_would_leave_three_digits_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^round 400: the questions would leave three digits$"):
        round_plan(400)
