"""The pure parts of bench/history_scale.py: quantiles of the samples and the filler
documents (Parley's message shape, unique message_id and (thread_id, seq)). No timing."""

from __future__ import annotations

import pytest

from bench.history_scale import FILLER_THREADS, _compared, _filler, quantiles


def test_quantiles_in_ms_with_p99_the_largest_of_a_small_sample() -> None:
    got = quantiles([0.001, 0.002, 0.010])
    assert got == pytest.approx({"count": 3, "p50_ms": 2.0, "p99_ms": 10.0})


def test_quantiles_of_a_large_sample() -> None:
    got = quantiles([i / 1000 for i in range(1, 201)])
    assert got["count"] == 200
    assert got["p50_ms"] == pytest.approx(100.5)
    assert got["p99_ms"] == pytest.approx(199.0)


def test_quantiles_of_nothing() -> None:
    assert quantiles([]) == {"count": 0}


def test_filler_keys_are_unique_across_batches() -> None:
    docs = _filler(0, 2500, "r") + _filler(2500, 2500, "r")
    assert len({d["message_id"] for d in docs}) == 5000
    assert len({(d["thread_id"], d["seq"]) for d in docs}) == 5000
    assert len({d["thread_id"] for d in docs}) == FILLER_THREADS
    assert set(docs[0]) == {"message_id", "thread_id", "seq", "sender_id", "text", "created_at"}


def test_long_thread_figures_compare_the_two_threads_and_count_failures() -> None:
    got = _compared(
        {"control_10k": [0.010, 0.020], "long": [0.030, 0.040]},
        {"control_10k": [], "long": ["HTTPStatusError: 500"]},
    )
    assert got["control_10k"] == pytest.approx({"count": 2, "p50_ms": 15.0, "p99_ms": 20.0})
    assert got["long"]["failed"] == 1
    assert got["long"]["first_error"] == "HTTPStatusError: 500"
    assert (got["p50_ratio"], got["p99_ratio"]) == (2.33, 2.0)


def test_no_ratio_when_every_call_of_a_thread_failed() -> None:
    got = _compared({"control_10k": [0.010], "long": []}, {"control_10k": [], "long": ["x"] * 3})
    assert got["long"] == {"count": 0, "failed": 3, "first_error": "x"}
    assert "p50_ratio" not in got and "p99_ratio" not in got
