"""Restart policy pieces: backoff with jitter, the intensity window."""

from __future__ import annotations

import random

import pytest

from actors import Backoff
from actors._policy import ChildPolicy, Intensity, Restart


def test_backoff_grows_exponentially_up_to_the_maximum() -> None:
    backoff = Backoff(initial=0.1, maximum=1.0, multiplier=2.0, jitter=0.0)
    rng = random.Random(1)
    assert [backoff.delay(n, rng) for n in range(1, 7)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    )


def test_backoff_jitter_shortens_by_at_most_its_fraction() -> None:
    backoff = Backoff(initial=1.0, maximum=1.0, jitter=0.25)
    rng = random.Random(7)
    delays = [backoff.delay(1, rng) for _ in range(200)]
    assert all(0.75 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 100  # spread out, so siblings do not restart in lockstep


def test_intensity_counts_restarts_within_the_window() -> None:
    window = Intensity(max_restarts=2, within=10.0)
    assert window.allow(0.0) == 1
    assert window.allow(1.0) == 2
    assert window.allow(2.0) == 0  # a third within 10 s: give up
    assert window.allow(10.5) == 2  # the first one left the window
    window.reset()
    assert window.allow(11.0) == 1


def test_intensity_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match=r"^max_restarts must be >= 0 and within > 0$"):
        Intensity(max_restarts=1, within=0)


def test_child_policies_are_shared() -> None:
    assert ChildPolicy.of(Restart.PERMANENT, 3.0) is ChildPolicy.of(Restart.PERMANENT, 3.0)
    assert ChildPolicy.of(Restart.TRANSIENT, 5.0) is ChildPolicy.of(Restart.TRANSIENT, 5.0)
