"""The Go load generator (bench/loadgen_go) builds, and its fan-out result has the Python
generator's shape: both run the same small job against the no-op server and the websockets
peer. No timing is asserted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Any

import orjson
import pytest

from bench._generator import GO_SOURCES, go_generator
from bench._procs import start_peer

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="`go` not installed")


def _fanout(command: list[str], port: int, run_id: str) -> dict[str, Any]:
    job = {
        "kind": "fanout",
        "ws": {"host": "127.0.0.1", "port": port, "path": "/ws"},
        "clients": 5,
        "messages": 20,
        "window": 4,
        "thread_id": "t-go",
        "run_id": run_id,
        "tokens": ["bench"],
        "timeout": 60,
    }
    out = subprocess.run(
        [*command, orjson.dumps(job).decode()], capture_output=True, timeout=90, check=True
    )
    result: dict[str, Any] = orjson.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("peer", ["bench.peers.noop", "bench.peers.ws_broadcast"])
def test_go_fanout_result_has_the_python_shape(peer: str) -> None:
    exe = go_generator()
    assert exe is not None, "go is installed but the Go generator did not build"
    server = start_peer(peer, peer)
    try:
        go = _fanout([str(exe)], server.port, "fgo")
        python = _fanout([sys.executable, "-m", "bench.loadgen"], server.port, "fpy")
    finally:
        server.stop()
    assert go["generator"] == "go"
    assert set(go) - {"generator"} == set(python)
    assert set(go["latency"]) == set(python["latency"])
    assert len(go["latency"]["quantiles"]) == len(python["latency"]["quantiles"])
    assert (go["deliveries"], go["expected"], go["acks"]) == (100, 100, 20)
    assert (go["errors"], go["server_closes"], go["foreign"]) == ({}, {}, 0)


def test_go_unit_tests_pass() -> None:
    out = subprocess.run(
        ["go", "test", "./..."],
        cwd=GO_SOURCES,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
