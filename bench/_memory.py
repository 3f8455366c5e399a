"""Memory scenarios: RSS growth of the server per idle connection and per woken thread actor,
and the actor runtime's own figures from `bench/actors_bench.py`."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import time
from typing import Any

import orjson

from bench._errors import BenchError
from bench._procs import quiesce, rss_bytes
from bench._results import Row
from bench._scenarios import Bench
from bench._targets import Target

__all__ = ["run_actors", "run_memory"]


def _idle_connection_bytes(bench: Bench, target: Target) -> tuple[float, int]:
    cfg = bench.cfg
    thread = target.new_threads(1, cfg.users)[0]
    job = {
        "kind": "idle",
        "ws": target.ws,
        "clients": cfg.idle_connections,
        "thread_id": thread,
        "tokens": target.tokens(cfg.users),
        "timeout": 600,
    }
    quiesce(target.pids)
    before = rss_bytes(target.server_pid)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", orjson.dumps(job).decode()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ready = orjson.loads(proc.stdout.readline() or b"{}")
        if not ready.get("ready"):
            raise BenchError(f"{target.name}: idle generator did not get ready")
        time.sleep(1.0)
        quiesce(target.pids)
        after = rss_bytes(target.server_pid)
        proc.stdin.write(b"done\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = orjson.loads(out.decode().strip().splitlines()[-1])
    connected = int(result["subscribed"])
    if connected < 0.9 * cfg.idle_connections:
        raise BenchError(
            f"{target.name}: only {connected}/{cfg.idle_connections} idle connections "
            f"subscribed, {result['still_open']} still open; errors {result['errors']}"
        )
    return (after - before) / connected, connected


def _thread_actor_bytes(bench: Bench, target: Target) -> float:
    """Create K threads, then wake each thread's actor with one message; RSS growth / K."""
    import httpx

    cfg = bench.cfg
    threads = target.new_threads(cfg.idle_threads, cfg.users)
    quiesce(target.pids)
    before = rss_bytes(target.server_pid)
    token = target.tokens(1)[0]
    with httpx.Client(base_url=f"http://127.0.0.1:{target.http['port']}", timeout=30) as c:
        for i, thread in enumerate(threads):
            resp = c.post(
                "/api/messages",
                json={"thread_id": thread, "text": "wake", "client_msg_id": f"wake-{i}"},
                headers={"Authorization": f"Bearer {token}"},
            )
            if resp.status_code != 202:
                raise BenchError(f"POST /api/messages: HTTP {resp.status_code} {resp.text[:200]}")
    time.sleep(1.0)
    quiesce(target.pids)
    return (rss_bytes(target.server_pid) - before) / len(threads)


def run_memory(bench: Bench) -> None:
    cfg = bench.cfg
    if bench.parley is not None:
        # First: after thousands of connections close, the server hands memory back for a
        # while, which would read as negative growth here.
        bench.results.add(
            Row(
                scenario="memory",
                metric="per thread actor (woken by one message)",
                unit="KB",
                better="lower",
                values=[_thread_actor_bytes(bench, bench.parley) / 1000],
                note=f"server RSS growth / {cfg.idle_threads} threads, each sent one message; "
                "includes the thread's caches and seq state",
            )
        )
    per_conn: dict[str, float] = {}
    counts: dict[str, int] = {}
    with bench._peer("bench.peers.ws_broadcast", "websockets") as peer:
        for t in (bench.parley, peer):
            if t is not None:
                try:
                    per_conn[t.name], counts[t.name] = _idle_connection_bytes(bench, t)
                except BenchError as exc:
                    bench.results.errors[f"memory/{t.name}"] = str(exc)
    bench.results.add(
        Row(
            scenario="memory",
            metric="per idle connection",
            unit="KB",
            better="lower",
            values=[per_conn["parley"] / 1000] if "parley" in per_conn else [],
            peer="websockets" if "websockets" in per_conn else None,
            peer_values=[per_conn["websockets"] / 1000] if "websockets" in per_conn else [],
            note="server RSS growth / "
            + ", ".join(f"{n} {name} connections" for name, n in counts.items())
            + ", authenticated and subscribed; "
            "one round (RSS after a round is no fresh baseline)",
        )
    )


def run_actors(bench: Bench) -> None:
    """Figures of the actor runtime, from `bench/actors_bench.py` (the actors helper's)."""
    try:
        mod = importlib.import_module("bench.actors_bench")
    except ModuleNotFoundError as exc:
        raise BenchError("bench/actors_bench.py is not there yet") from exc
    fn = next(
        (getattr(mod, n) for n in ("results", "run_results", "run", "main") if hasattr(mod, n)),
        None,
    )
    if fn is None:
        raise BenchError("bench/actors_bench.py has no results() function")
    kwargs: dict[str, Any] = {}
    if "tiny" in inspect.signature(fn).parameters:
        kwargs["tiny"] = bench.cfg.tiny
    figures = fn(**kwargs)
    for fig in figures:
        bench.results.add(_row_from_actor_figure(fig))


def _row_from_actor_figure(fig: Any) -> Row:
    d = fig if isinstance(fig, dict) else vars(fig)
    value = d.get("value")
    values = d.get("values") or ([value] if value is not None else [])
    peer_value = d.get("peer_value")
    return Row(
        scenario="actors",
        metric=str(d.get("metric") or d.get("name")),
        unit=str(d.get("unit", "")),
        better=str(d.get("better", "higher")),
        values=[float(v) for v in values],
        peer=d.get("peer"),
        peer_values=[
            float(v) for v in (d.get("peer_values") or ([peer_value] if peer_value else []))
        ],
        note=str(d.get("note", "")),
    )
