"""The pure parts of bench/history_scale.py: quantiles of the samples and the filler
documents (Parley's message shape, unique message_id and (thread_id, seq)). No timing."""

from __future__ import annotations

import pytest

from bench.history_scale import FILLER_THREADS, _filler, quantiles


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
