"""The soak scenario's first-minute vs end comparison (bench/_soak.py) and the log-bucket
latency histograms it merges (bench/loadgen/_stats.py)."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from bench._errors import BenchError
from bench._soak import Sample, compare
from bench.loadgen._stats import histogram_percentile, log_bucket


def _hist(latencies_s: list[float]) -> dict[int, int]:
    return dict(Counter(log_bucket(x) for x in latencies_s))


def _window(ms: float) -> dict[int, int]:
    # 99 fast deliveries and one at `ms`: the window's p99 is the fast ones' 1 ms
    return _hist([0.001] * 98 + [ms / 1000] * 2)


def _by_name(samples: list[Sample]) -> dict[str, tuple[float, float, float, bool]]:
    return {v.name: (v.first, v.end, v.ratio, v.ok) for v in compare(samples)}


def test_histogram_percentile_is_nearest_rank_at_most_one_percent_high() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    hist = _hist(values)
    for q, exact in ((50, 0.050), (99, 0.099), (100, 0.100)):
        got = histogram_percentile(hist, q)
        assert exact <= got <= exact * 1.0101, (q, got)
    assert math.isnan(histogram_percentile({}, 99))


def test_gauges_compare_the_sample_after_the_first_minute_with_the_last() -> None:
    # A ready sample at t=0 (before any message) and one every 10 s up to 10 minutes: the
    # first minute is the sample at t=60, not the idle one at the start.
    samples = [Sample(0.0, 50_000_000, 10, 5.0)]
    for i in range(1, 61):
        t = i * 10.0
        rss = 100_000_000 if t <= 60 else 100_000_000 + int((t - 60) / 540 * 4_000_000)
        fds = 10_020
        tasks = 20_050.0 + (t - 60) * 5 if t > 60 else 20_050.0
        samples.append(Sample(t, rss, fds, tasks, _window(5.0)))
    got = _by_name(samples)
    first, end, ratio, ok = got["resident memory (VmRSS)"]
    assert (first, end, ok) == (100.0, 104.0, True) and ratio == pytest.approx(1.04)
    assert got["open file descriptors"] == (10_020.0, 10_020.0, 1.0, True)
    first, end, ratio, ok = got["Trio tasks"]  # 2,700 tasks more: a leak
    assert (first, end, ok) == (20_050.0, 20_050.0 + 540 * 5, False)
    assert ratio == pytest.approx(1 + 2700 / 20_050)


def test_p99_is_taken_over_the_first_and_the_last_minute_of_windows() -> None:
    # Deliveries at 10 ms in the first minute, 10 ms then 30 ms in the last minute's windows:
    # the verdict pools each minute's windows (one slow window alone moves no pooled p99).
    samples = [Sample(0.0, 1, 1, 1.0)]
    for i in range(1, 19):  # 3 minutes
        t = i * 10.0
        ms = 30.0 if t > 120 else 10.0
        samples.append(Sample(t, 1, 1, 1.0, _hist([ms / 1000] * 100)))
    first, end, ratio, ok = _by_name(samples)["delivery latency p99"]
    assert 10.0 <= first <= 10.11 and 30.0 <= end <= 30.31
    assert ratio == pytest.approx(3.0, rel=0.01) and not ok


def test_a_run_shorter_than_two_minutes_compares_its_halves() -> None:
    samples = [Sample(t, 100 if t <= 20 else 103, 7, 9.0, _window(1.0)) for t in (10, 20, 30, 40)]
    first, end, ratio, ok = _by_name(samples)["resident memory (VmRSS)"]
    assert (first, end) == (100 / 1e6, 103 / 1e6) and ratio == pytest.approx(1.03) and ok


def test_a_figure_the_server_did_not_give_never_passes() -> None:
    samples = [Sample(t, 1, 1, math.nan, _window(1.0)) for t in (60.0, 120.0)]
    assert _by_name(samples)["Trio tasks"][3] is False


def test_too_few_samples_is_an_error_not_a_pass() -> None:
    with pytest.raises(BenchError, match="nothing to compare"):
        compare([Sample(0.0, 1, 1, 1.0), Sample(10.0, 1, 1, 1.0)])
