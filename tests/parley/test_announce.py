"""The announcer's chart figures: quantiles from histogram buckets like Prometheus computes."""

from __future__ import annotations

import math

import pytest

from parley._announce import _Stats, histogram_quantile
from telemetry import Metrics


def test_quantile_interpolates_inside_the_bucket() -> None:
    buckets = {0.01: 0.0, 0.02: 100.0, math.inf: 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.015)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.0199)


def test_quantile_without_data_or_beyond_the_last_bucket() -> None:
    assert histogram_quantile(0.5, {}) is None
    assert histogram_quantile(0.5, {0.01: 0.0, math.inf: 0.0}) is None
    assert histogram_quantile(0.99, {0.01: 0.0, 0.02: 0.0, math.inf: 5.0}) == 0.02


def test_stats_give_totals_and_the_quantiles_of_the_last_interval_only() -> None:
    metrics = Metrics()
    stats = _Stats()
    for _ in range(10):
        metrics.end_to_end.observe(1.0)
    metrics.persisted.inc(10)
    first = stats.take(metrics.registry)
    assert first["persisted"] == 10.0
    assert 0.5 < first["e2e_p99_s"] <= 1.0
    for _ in range(10):
        metrics.end_to_end.observe(0.003)
    second = stats.take(metrics.registry)
    assert second["e2e_p99_s"] <= 0.005
    assert "e2e_p50_s" not in stats.take(metrics.registry)
