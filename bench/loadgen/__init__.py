"""Load generators of the bench, run as separate processes (`python -m bench.loadgen JOB`).

A job is a JSON object naming a `kind` (fanout, ingest_rest, ingest_ws, e2e, idle) and its
target; the result is one JSON object on the last line of stdout. The generator uses asyncio
protocols (callbacks, no coroutine per frame) rather than Trio so that it shares no code with
the server under test and keeps its own ceiling high; every job reports the CPU share it used
so that a generator-limited figure can be told apart.
"""

from __future__ import annotations

from bench.loadgen._jobs import JOBS, run_job
from bench.loadgen._stats import distribution, percentile

__all__ = ["JOBS", "distribution", "percentile", "run_job"]
