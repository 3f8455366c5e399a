"""Fan-out deliveries/s of the Parley listener vs the ``websockets`` broadcast server, one run.

Besides deliveries/s (bounded by the asyncio generator on a 2-core machine), it reports the
server's CPU time per delivery, which stays meaningful when the generator is the bottleneck.

Uses the bench helper's generator (``python -m bench.loadgen``) and peer launcher, alternating
the two servers round by round so both see the same machine state:

    .venv/bin/python -m bench.ws_fanout_compare [clients] [messages] [rounds]
"""

from __future__ import annotations

import os
import statistics
import sys
import uuid

from bench._procs import cpu_seconds, quiesce, run_generator, start_peer


def main() -> None:
    clients = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    messages = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    peers = {
        "parley ws listener": "bench.peers.ws_listener",
        "websockets broadcast": "bench.peers.ws_broadcast",
    }
    if os.environ.get("COMPARE_CORK") == "1":  # A/B of the flusher instead
        peers = {
            "parley ws listener": "bench.peers.ws_listener",
            "websockets broadcast": "bench.peers.ws_listener_nocork",
        }
    results: dict[str, list[float]] = {name: [] for name in peers}
    cpu_per_delivery: dict[str, list[float]] = {name: [] for name in peers}
    procs = {name: start_peer(module, name) for name, module in peers.items()}
    try:
        for r in range(rounds):
            for name, proc in procs.items():
                job = {
                    "kind": "fanout",
                    "ws": {"host": "127.0.0.1", "port": proc.port, "path": "/ws"},
                    "clients": clients,
                    "messages": messages,
                    "window": 64,
                    "thread_id": f"t_{uuid.uuid4().hex[:8]}",
                    "run_id": f"r{r}{uuid.uuid4().hex[:6]}",
                    "tokens": [f"user{i}" for i in range(50)],
                }
                quiesce([proc.pid])
                cpu_before = cpu_seconds([proc.pid])
                out = run_generator(job)
                cpu = cpu_seconds([proc.pid]) - cpu_before
                if "deliveries" not in out:
                    print(f"round {r} {name}: {str(out)[:300]}", flush=True)
                rate = float(out.get("deliveries_per_s", 0.0))
                results[name].append(rate)
                delivered = int(out.get("deliveries") or 0)
                us = cpu / delivered * 1e6 if delivered else float("nan")
                cpu_per_delivery[name].append(us)
                print(
                    f"round {r} {name:22s} {rate:10.0f} deliveries/s, "
                    f"server CPU {us:5.1f} us/delivery "
                    f"({out.get('deliveries')}/{out.get('expected')}, "
                    f"p99 {out.get('latency', {}).get('p99', 0) * 1000:.1f} ms, "
                    f"closes {out.get('server_closes')})",
                    flush=True,
                )
    finally:
        for proc in procs.values():
            proc.stop()
    medians = {name: statistics.median(v) for name, v in results.items()}
    ours, theirs = medians["parley ws listener"], medians["websockets broadcast"]
    print(f"median parley {ours:.0f}/s, websockets {theirs:.0f}/s, ratio {ours / theirs:.2f}x")
    cpu = {name: statistics.median(v) for name, v in cpu_per_delivery.items()}
    ours, theirs = cpu["parley ws listener"], cpu["websockets broadcast"]
    print(
        f"median server CPU per delivery: parley {ours:.1f} us, websockets {theirs:.1f} us "
        f"(websockets costs {theirs / ours:.2f}x as much CPU per delivery)"
    )


if __name__ == "__main__":
    main()
