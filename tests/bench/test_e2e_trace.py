"""bench/e2e_trace.py's arithmetic: scrape differences and per-leg figures (no server here)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.e2e_trace import histogram_delta, leg_summary, parse_histograms
from infra import Endpoints

REPO = Path(__file__).resolve().parents[2]

_BEFORE = """
# TYPE parley_end_to_end_seconds histogram
parley_end_to_end_seconds_bucket{le="0.01"} 2.0
parley_end_to_end_seconds_bucket{le="0.05"} 5.0
parley_end_to_end_seconds_bucket{le="+Inf"} 6.0
parley_other_total 3.0
"""
_AFTER = """
parley_end_to_end_seconds_bucket{le="0.01"} 4.0
parley_end_to_end_seconds_bucket{le="0.05"} 10.0
parley_end_to_end_seconds_bucket{le="+Inf"} 12.0
"""


def test_the_delta_counts_each_buckets_own_observations_between_scrapes() -> None:
    delta = histogram_delta(parse_histograms(_BEFORE), parse_histograms(_AFTER))
    # Between the scrapes: 2 at <= 10 ms, 3 more at <= 50 ms, 1 beyond.
    assert delta == {"parley_end_to_end_seconds": [("0.01", 2.0), ("0.05", 3.0), ("+Inf", 1.0)]}


def test_a_histogram_first_seen_after_the_start_counts_from_zero() -> None:
    delta = histogram_delta({}, parse_histograms(_AFTER))
    assert delta["parley_end_to_end_seconds"] == [("0.01", 4.0), ("0.05", 6.0), ("+Inf", 2.0)]


def test_legs_are_summarised_in_ms_and_a_missing_leg_is_left_out() -> None:
    trace = [[k, 0.001, 0.002 * k, 0.01, None if k == 0 else 0.02] for k in range(100)]
    legs = leg_summary(trace)
    assert legs["sent"]["p50"] == pytest.approx(1.0)
    assert legs["answered"]["max"] == pytest.approx(198.0)
    assert legs["last delivered"]["p99"] == pytest.approx(20.0)  # 99 rows, not 100


def test_a_leg_nobody_reached_is_nan() -> None:
    legs = leg_summary([[0, 0.001, None, None, None]])
    assert math.isnan(legs["answered"]["p50"])


@pytest.mark.integration
def test_a_traced_run_names_every_leg_of_every_message(services: Endpoints) -> None:
    """A tiny run against a real `parley serve` on the session's services."""
    proc = subprocess.run(
        [
            sys.executable, "-m", "bench.e2e_trace",
            "--rate", "20", "--duration", "1", "--clients", "20", "--settle", "0.2",
            "--kafka", services.kafka_bootstrap,
            "--mongo-uri", services.mongo_uri,
            "--oidc-issuer", services.oidc_issuer,
        ],
        cwd=REPO, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "sent 20, accepted 20, missing 0" in out, out
    for leg in ("sent", "answered", "first delivered", "last delivered"):
        line = next(x for x in out.splitlines() if x.strip().startswith(f"{leg}:"))
        assert "nan" not in line, line
    # The server saw the same 20 messages on each of its three legs.
    for leg in ("accepted_to_stored", "stored_to_delivered", "end_to_end"):
        line = next(x for x in out.splitlines() if f"server {leg}_seconds:" in x)
        counts = [int(part.split()[-1]) for part in line.split(":", 1)[1].split(",")]
        assert sum(counts) == 20, line
