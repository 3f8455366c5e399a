"""End-to-end scenario: latency at a fixed rate, then the highest rate whose p99 meets the goal.

Clients are spread over threads of `e2e_thread_size` members (a chat's usual shape): at 1,000
messages/s and 10 clients per thread, the server delivers 10,000 frames/s.
"""

from __future__ import annotations

import uuid
from typing import Any

from bench._results import Row
from bench._scenarios import Bench, JobFactory, Metric, _ms
from bench._targets import Target

__all__ = ["run_e2e"]


def _job(bench: Bench, rate: float, duration: float) -> JobFactory:
    cfg = bench.cfg

    def job(t: Target, r: int) -> dict[str, Any]:
        return {
            "kind": "e2e",
            "ws": t.ws,
            "http": t.posting,
            "clients": cfg.e2e_clients,
            "thread_ids": t.new_threads(cfg.e2e_threads, cfg.users),
            "rate": rate,
            "duration": duration,
            "run_id": f"e{r}{uuid.uuid4().hex[:6]}",
            "tokens": t.tokens(cfg.users),
            # Enough connections that a slow 202 does not throttle the schedule.
            "connections": min(256, max(16, int(rate / 8))),
            "drain_s": 5.0,
            # Not measured: the 1,000 clients' connects and subscribes just before (Parley
            # publishes presence for each; the peers have none).
            "settle_s": cfg.e2e_settle_s,
        }

    return job


def _passes(result: dict[str, Any], goal_ms: float) -> bool:
    latency = result.get("latency", {})
    return bool(
        latency.get("count", 0) > 0
        and latency["p99"] * 1000 <= goal_ms
        and result["missing"] == 0
        and result["accepted"] == result["sent"]
        and result.get("unsent", 0) == 0
        and result["achieved_rate"] >= 0.95 * result["rate"]
    )


def _step(bench: Bench, target: Target, rate: float, trace: list[str]) -> bool:
    """One search step. A pass must hold twice: a short step is decided by a stall or two,
    so a lucky run would otherwise set the figure (a miss needs no second look)."""
    cfg = bench.cfg
    for attempt in ("", " again"):
        result = bench._run(target, _job(bench, rate, cfg.search_duration_s), 0)
        ok = _passes(result, cfg.e2e_p99_goal_ms)
        p99 = result.get("latency", {}).get("p99", float("nan")) * 1000
        trace.append(f"{rate:.0f}/s{attempt} p99 {p99:.1f} ms {'ok' if ok else 'over'}")
        if not ok:
            return False
    return True


def _search(bench: Bench, target: Target) -> tuple[float, list[str]]:
    """Double the rate until a step fails, then bisect; bounded by search_steps."""
    cfg = bench.cfg
    lo, hi, rate = 0.0, None, cfg.search_start_rate
    trace: list[str] = []
    for _ in range(cfg.search_steps):
        if hi is None and rate > cfg.search_max_rate:
            break
        ok = _step(bench, target, rate, trace)
        if ok:
            lo = rate
        else:
            hi = rate
        rate = rate * 2 if hi is None else (lo + hi) / 2
        if hi is not None and hi - lo <= max(1.0, 0.1 * lo):
            break
    return lo, trace


def run_e2e(bench: Bench) -> None:
    """Parley against the same-guarantee Go peer (broker and store on the path) and the
    uvicorn peer (neither: the floor of what a Python server costs), in the same rounds."""
    cfg = bench.cfg
    metrics = [
        Metric(f"p50 at {cfg.e2e_rate:.0f} msg/s", "ms", "lower", _ms("p50")),
        Metric(f"p95 at {cfg.e2e_rate:.0f} msg/s", "ms", "lower", _ms("p95")),
        Metric(f"p99 at {cfg.e2e_rate:.0f} msg/s", "ms", "lower", _ms("p99")),
        Metric("delivered", "fraction", "higher", lambda r: r["deliveries"] / r["expected"]),
    ]
    with (
        bench.go_peer() as go,
        bench._peer("bench.peers.starlette_app", "uvicorn+starlette") as peer,
    ):
        peers = [p for p in (go, peer) if p is not None]
        runs = bench._compare(
            "e2e",
            _job(bench, cfg.e2e_rate, cfg.e2e_duration_s),
            peers[0] if peers else None,
            metrics,
            ceiling_metric=metrics[2].name,
            cpu="",
            more_peers=peers[1:],
        )
        bench._keep_distribution(
            f"end-to-end: {cfg.e2e_rate:.0f} msg/s, {cfg.e2e_clients} clients, "
            f"{cfg.e2e_thread_size} per thread",
            runs,
        )
        if go is not None and cfg.e2e_moderate_rate > 0:
            _compare_at_moderate_rate(bench, go)
        if cfg.search_steps <= 0:  # `--search-steps 0`: the fixed rates only
            return
        found: dict[str, float] = {}
        traces: list[str] = []
        for t in (bench.parley, *peers):
            if t is not None:
                found[t.name], trace = _search(bench, t)
                traces.append(f"{t.name}: " + ", ".join(trace))
        if not found:
            return
        for other in peers or [None]:
            bench.results.add(
                Row(
                    scenario="e2e",
                    metric=f"max rate with p99 <= {cfg.e2e_p99_goal_ms:.0f} ms",
                    unit="msg/s",
                    better="higher",
                    values=[found["parley"]] if "parley" in found else [],
                    peer=other.name if other is not None else None,
                    peer_values=[found[other.name]] if other is not None else [],
                    note=f"one bounded search, {cfg.search_duration_s:g} s per step, a pass "
                    f"counts when it holds twice (0 = even the first step missed the goal)",
                )
            )
        bench.results.notes.append("e2e max-rate search steps: " + " | ".join(traces))
        if bench.parley is not None and go is not None and found.get(go.name):
            _at_peer_rate(bench, bench.parley, go, found[go.name])


def _compare_at_moderate_rate(bench: Bench, go: Target) -> None:
    """Parley and the Go peer at a rate both hold, with each process's CPU per message.

    At e2e_rate requests batch (many records per produce request, fetch response and store
    write); near the rates the max-rate search ends at, each message travels alone, so this
    is the CPU per message that decides where the two cores run out.
    """
    rate = bench.cfg.e2e_moderate_rate
    bench._compare(
        "e2e-moderate",
        _job(bench, rate, bench.cfg.e2e_duration_s),
        go,
        [
            Metric(f"p50 at {rate:.0f} msg/s", "ms", "lower", _ms("p50")),
            Metric(f"p99 at {rate:.0f} msg/s", "ms", "lower", _ms("p99")),
            Metric("delivered", "fraction", "higher", lambda r: r["deliveries"] / r["expected"]),
        ],
        cpu=f" at {rate:.0f} msg/s",
    )


def _at_peer_rate(bench: Bench, parley: Target, peer: Target, rate: float) -> None:
    """Parley's p99 at the highest rate the peer held (one run each, same job)."""
    job = _job(bench, rate, bench.cfg.search_duration_s)
    mine, theirs = bench._run(parley, job, 0), bench._run(peer, job, 0)
    bench.results.add(
        Row(
            scenario="e2e",
            metric=f"p99 at the peer's max rate ({rate:.0f} msg/s)",
            unit="ms",
            better="lower",
            values=[_ms("p99")(mine)],
            peer=peer.name,
            peer_values=[_ms("p99")(theirs)],
            note=f"one run each; delivered {mine['deliveries'] / max(1, mine['expected']):.2f} "
            f"(Parley), {theirs['deliveries'] / max(1, theirs['expected']):.2f} (peer)",
        )
    )
