"""Server RSS growth per idle, authenticated, subscribed connection: Parley listener vs
``websockets``, in one run (bench helper's idle generator):

    .venv/bin/python -m bench.ws_idle_memory [connections]
"""

from __future__ import annotations

import subprocess
import sys
import time

import orjson

from bench._procs import quiesce, rss_bytes, start_peer


def measure(module: str, name: str, clients: int) -> float:
    peer = start_peer(module, name)
    try:
        time.sleep(0.5)
        quiesce([peer.pid])
        before = rss_bytes(peer.pid)
        job = {
            "kind": "idle",
            "ws": {"host": "127.0.0.1", "port": peer.port, "path": "/ws"},
            "clients": clients,
            "thread_id": "t_idle",
            "tokens": [f"user{i}" for i in range(100)],
        }
        gen = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", orjson.dumps(job).decode()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert gen.stdout is not None and gen.stdin is not None
        ready = orjson.loads(gen.stdout.readline())
        quiesce([peer.pid])
        after = rss_bytes(peer.pid)
        gen.stdin.write(b"\n")
        gen.stdin.flush()
        gen.wait(60)
        per = (after - before) / max(1, int(ready["connected"]))
        print(f"{name:22s} {ready['connected']} connections: {per / 1024:.1f} KB each", flush=True)
        return per
    finally:
        peer.stop()


def main() -> None:
    clients = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    ours = measure("bench.peers.ws_listener", "parley ws listener", clients)
    theirs = measure("bench.peers.ws_broadcast", "websockets broadcast", clients)
    print(f"ratio {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
