"""One chaos run: start the cluster, load it, inject a fault, heal, converge, verify.

cluster (2 gateways g1/g2, 2 cores c1/c2, own topics/group/database)
  → threads created, readers subscribed (on the gateway the fault spares, plus one on g1)
  → posters (REST and WebSocket, both gateways) → fault inject … heal (x rounds)
  → posters stop → wait: every accepted message stored and lag 0 (bounded)
  → wait: continuous readers caught up (bounded) → SIGTERM everything → verify
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import trio

from infra import fetch_access_token
from tests.chaos.checks import Verdict, verify
from tests.chaos.cluster import Cluster, ProcessExit
from tests.chaos.driver import Gateway, LoadPlan, Outcomes, Reader, run_poster, run_reader

__all__ = ["Fault", "Size", "create_threads", "fetch_tokens", "live_gateways", "run_scenario"]

log = logging.getLogger("chaos")
_T0 = [0.0]


def _phase(what: str) -> None:
    """Progress on stderr (shown with -s or on failure): where a slow run spends its time."""
    now = time.monotonic()
    print(f"[chaos {now - _T0[0]:6.1f}s] {what}", file=sys.stderr, flush=True)


Action = Callable[[Cluster], Awaitable[None]]


async def _nothing(_: Cluster) -> None:
    return None


@dataclass(frozen=True)
class Size:
    """Smoke (make test) or long (make chaos) dimensions of every run."""

    plan: LoadPlan
    rounds: int = 1
    lead_s: float = 1.5  # load before the first fault
    tail_s: float = 2.0  # load after the last heal
    readers: int = 2
    threads: int = 4
    converge_s: float = 120.0


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Action
    heal: Action = _nothing
    hold_s: float = 3.0  # between inject and heal
    spared_gateway: str = "g2"  # readers that must stay continuous live here
    cores_env: dict[str, dict[str, str]] = field(default_factory=dict)
    gateway_env: dict[str, str] = field(default_factory=dict)
    slow_readers: int = 0
    paused_readers: int = 0
    text_bytes: int | None = None  # message size instead of the plan's
    session_timeout_ms: int = 6000


@dataclass
class Run:
    cluster: Cluster
    outcomes: Outcomes
    readers: list[Reader]
    threads: list[str]
    verdict: Verdict | None = None
    exits: list[ProcessExit] = field(default_factory=list)


def live_gateways(cluster: Cluster) -> list[Gateway]:
    return [Gateway(g.name, g.http_base, g.ws_url) for g in cluster.live_gateways()]


async def fetch_tokens(issuer: str, users: list[str]) -> dict[str, str]:
    out = {}
    for u in users:
        out[u] = await trio.to_thread.run_sync(fetch_access_token, issuer, u)
    return out


async def create_threads(gw: Gateway, token: str, members: list[str], n: int) -> list[str]:
    ids = []
    async with httpx.AsyncClient(timeout=10) as client:
        for i in range(n):
            resp = await client.post(
                f"{gw.http_base}/api/threads",
                json={"title": f"chaos {i}", "members": members},
                headers={"authorization": f"Bearer {token}"},
            )
            assert resp.status_code == 201, resp.text
            ids.append(resp.json()["thread_id"])
    return ids


async def _converge(cluster: Cluster, outcomes: Outcomes, bound_s: float) -> float | None:
    """Wait until every accepted message is stored and the core group's lag is 0."""
    want = set(outcomes.accepted())
    with trio.move_on_after(bound_s):
        while True:
            docs = await cluster.stored()
            if docs is not None:
                have = {d.get("client_msg_id") for d in docs}
                if want <= have and await cluster.lag() == 0:
                    return time.monotonic()
            await trio.sleep(0.5)
    return None


async def _readers_caught_up(cluster: Cluster, readers: list[Reader], bound_s: float) -> None:
    docs = await cluster.stored() or []
    ids = {str(d["message_id"]) for d in docs}
    with trio.move_on_after(bound_s):
        while any(r.continuous and not ids <= r.seen_ids() for r in readers):  # noqa: ASYNC110
            await trio.sleep(0.3)


async def run_scenario(cluster: Cluster, fault: Fault, size: Size) -> Run:
    """Run the whole protocol; the caller checks `run.verdict.failures`."""
    _T0[0] = time.monotonic()
    _phase(f"{fault.name}: start")
    users = [f"chaos-u{i}" for i in range(size.plan.posters + size.readers + 2)]
    tokens = await fetch_tokens(cluster.endpoints.oidc_issuer, users)

    # --- start the system ------------------------------------------------------------------
    for name in ("g1", "g2"):
        cluster.add_gateway(name, **fault.gateway_env)
    for name in ("c1", "c2"):
        cluster.add_core(name, **fault.cores_env.get(name, {}))
    for gw in cluster.gateways.values():
        await cluster.wait_gateway_ready(gw)
    await cluster.wait_group(2)
    _phase("cluster ready")

    gws = {g.name: g for g in live_gateways(cluster)}
    threads = await create_threads(gws["g2"], tokens[users[0]], users, size.threads)
    outcomes = Outcomes()
    run = Run(cluster, outcomes, [], threads)

    readers = [Reader(f"r{i}", fault.spared_gateway) for i in range(size.readers)]
    readers.append(Reader("r-g1", "g1"))
    readers += [
        Reader(f"slow{i}", fault.spared_gateway, delay_s=0.05) for i in range(fault.slow_readers)
    ]
    resume = trio.Event()
    readers += [
        Reader(f"paused{i}", fault.spared_gateway, paused_until=resume)
        for i in range(fault.paused_readers)
    ]
    run.readers = readers
    plan = size.plan
    if fault.text_bytes is not None:
        plan = dataclasses.replace(plan, text_bytes=fault.text_bytes)
    reader_users = users[size.plan.posters :]

    t_inject: float | None = None
    async with trio.open_nursery() as readers_nursery:
        for i, r in enumerate(readers):
            await readers_nursery.start(
                run_reader, r, gws[r.gateway], tokens[reader_users[i % len(reader_users)]], threads
            )
        stop_posting = trio.Event()
        async with trio.open_nursery() as posters:
            for i in range(size.plan.posters):
                via = "ws" if i % 2 else "rest"
                posters.start_soon(
                    run_poster,
                    i,
                    users[i],
                    tokens[users[i]],
                    via,
                    threads,
                    lambda: live_gateways(cluster),
                    plan,
                    outcomes,
                    stop_posting,
                )
            await trio.sleep(size.lead_s)
            for _ in range(size.rounds):
                t = time.monotonic()
                t_inject = t if t_inject is None else t_inject
                _phase(f"inject ({outcomes.issued} issued)")
                await fault.inject(cluster)
                _phase("injected")
                await trio.sleep(fault.hold_s)
                _phase("heal")
                await fault.heal(cluster)
                _phase("healed")
                await trio.sleep(size.lead_s)
            await trio.sleep(size.tail_s)
            stop_posting.set()

        _phase(f"posting stopped ({outcomes.issued} issued)")
        t_done = await _converge(cluster, outcomes, size.converge_s)
        _phase("converged" if t_done else "NOT converged")
        resume.set()
        await _readers_caught_up(cluster, readers, 30.0)
        _phase("readers caught up")
        for r in readers:
            r.scope.cancel()

    docs = await cluster.stored()
    assert docs is not None, "the store did not answer after healing"
    run.exits = await cluster.stop_all()
    _phase("stopped")
    v = verify(fault.name, outcomes, docs, readers, threads)
    if t_done is not None and t_inject is not None:
        v.recover_s = t_done - t_inject
    elif t_done is None:
        lag = await cluster.lag()
        v.notes.append(f"did not converge in {size.converge_s:.0f}s (lag {lag})")
    v.exits = [f"{e.name}:{e.signal}→{e.code} in {e.seconds:.1f}s" for e in cluster.exits]
    if v.readers_dropped:
        v.notes.append(f"readers dropped: {len(v.readers_dropped)}")
        v.details += [f"reader dropped: {d}" for d in v.readers_dropped]
    for r in readers:
        if r.paused_until is not None or r.delay_s:
            fate = f"closed {r.close_code}" if r.close_code else "kept, caught up"
            v.notes.append(f"{r.name}: {fate}")
    run.verdict = v
    return run
