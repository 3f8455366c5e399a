"""Percentiles and a compact latency distribution, shared by the generator and the harness."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "bucket_seconds",
    "distribution",
    "histogram_percentile",
    "log_bucket",
    "percentile",
]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def distribution(values: Sequence[float], points: int = 400) -> dict[str, object]:
    """p50/p95/p99/max plus `points`+1 quantiles for a CDF chart (values in seconds)."""
    s = sorted(values)
    if not s:
        return {"count": 0}
    quantiles = [s[min(len(s) - 1, round(i / points * (len(s) - 1)))] for i in range(points + 1)]
    return {
        "count": len(s),
        "p50": percentile(s, 50),
        "p95": percentile(s, 95),
        "p99": percentile(s, 99),
        "max": s[-1],
        "mean": sum(s) / len(s),
        "quantiles": quantiles,
    }


# Log-scaled latency buckets 1% wide: windows of a long run are summarised as {bucket: count}
# and merged by the harness, which can then take a percentile over any span of windows.
_STEP = math.log(1.01)


def log_bucket(seconds: float) -> int:
    """The 1%-wide bucket of a latency (anything under 1 µs counts as 1 µs)."""
    return math.floor(math.log(max(seconds, 1e-6) * 1e6) / _STEP)


def bucket_seconds(bucket: int) -> float:
    """The upper edge of a bucket: a percentile read from buckets is at most 1% high."""
    return math.exp((bucket + 1) * _STEP) / 1e6


def histogram_percentile(histogram: dict[int, int], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a {bucket: count} histogram, in seconds."""
    total = sum(histogram.values())
    if total == 0:
        return math.nan
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_seconds(bucket)
    return bucket_seconds(max(histogram))
