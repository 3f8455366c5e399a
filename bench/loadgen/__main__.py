"""`python -m bench.loadgen '<job json>'`: run one job, print its result as the last line."""

from __future__ import annotations

import sys

import orjson

from bench.loadgen._jobs import run_job

if __name__ == "__main__":
    result = run_job(orjson.loads(sys.argv[1]))
    print(orjson.dumps(result).decode(), flush=True)
