"""Retry-with-backoff for "is the service there yet" probes (readiness, never a crash loop)."""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["backoff_delays"]


def backoff_delays(first: float = 0.2, cap: float = 5.0, factor: float = 2.0) -> Iterator[float]:
    """Endless exponential delays with full jitter, so many processes do not retry in step."""
    delay = first
    while True:
        yield random.uniform(delay / 2, delay)
        delay = min(cap, delay * factor)
