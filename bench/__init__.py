"""Parley's benchmarks: every figure measured side by side with a reference peer, in one run.

`python -m bench` (`make bench`) runs the scenarios (fan-out, ingest, end-to-end, memory,
actors) against Parley and its peer alternately for several rounds, runs the load generators
as separate processes, measures each generator's own ceiling against a no-op server, and writes
`bench/results/latest.json`, `latest.md` and `latency.png`.

    bench._cli.main          the command
    bench.loadgen            the generators (`python -m bench.loadgen JOB`)
    bench.peers              the reference servers
"""

from __future__ import annotations

from bench._cli import main, run
from bench._config import SCENARIOS, TARGETS, BenchConfig, parse_args
from bench._errors import BenchError
from bench._results import Results, Row

__all__ = [
    "SCENARIOS",
    "TARGETS",
    "BenchConfig",
    "BenchError",
    "Results",
    "Row",
    "main",
    "parse_args",
    "run",
]
