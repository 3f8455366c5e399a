"""Percentiles and a compact latency distribution, shared by the generator and the harness."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["distribution", "percentile"]


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
