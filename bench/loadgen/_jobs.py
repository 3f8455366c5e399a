"""Job dispatch: a job is a JSON object whose `kind` names one of JOBS."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Awaitable, Callable
from typing import Any

from bench.loadgen._e2e import e2e
from bench.loadgen._fanout import fanout
from bench.loadgen._idle import idle
from bench.loadgen._ingest import ingest_rest, ingest_ws
from bench.loadgen._soak import soak

__all__ = ["JOBS", "run_job"]

JOBS: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "fanout": fanout,
    "ingest_rest": ingest_rest,
    "ingest_ws": ingest_ws,
    "e2e": e2e,
    "idle": idle,
    "soak": soak,
}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    # Thousands of sockets: take the whole hard limit of file descriptors.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    timeout = float(job.get("timeout", 300))
    return asyncio.run(asyncio.wait_for(JOBS[job["kind"]](job), timeout))
