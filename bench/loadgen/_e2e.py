"""End-to-end job: POSTs at a fixed rate, latency from the scheduled send to the frame received.

Clients are spread over threads (client i subscribes to thread i mod T), message k goes to
thread k mod T, so each message reaches clients/T receivers. Latency is measured from the
moment the POST was *due*, not from when a connection got round to sending it, so a generator
or server that falls behind is charged for it (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections import Counter
from typing import Any

import orjson

from bench.loadgen._common import CpuMeter, mark_window, open_fleet, padded_text, text_marker
from bench.loadgen._http import ConnectFailed, KeptAlive
from bench.loadgen._stats import distribution
from bench.loadgen._ws import WsClient

__all__ = ["e2e"]


async def e2e(job: dict[str, Any]) -> dict[str, Any]:
    rate, duration = float(job["rate"]), float(job["duration"])
    n_clients, threads = int(job["clients"]), list(job["thread_ids"])
    run = str(job["run_id"])
    prefix = run + ":"
    total = max(1, int(rate * duration))
    text_bytes = int(job.get("text_bytes", 100))
    latencies = array("d")
    seen: set[int] = set()  # messages that reached at least one receiver
    state = {"deliveries": 0, "foreign": 0, "max_lag": 0.0}
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    t0 = 0.0
    expected = 1 << 62  # known once the fleet is up
    all_delivered = asyncio.Event()

    marker = text_marker(run)
    # `trace`: per message, [sent, answered, first delivered, last delivered] as seconds after
    # it was due, to tell which leg a stall is on (bench.e2e_trace reads it).
    trace: dict[int, list[float]] | None = {} if job.get("trace") else None

    def traced(k: int) -> list[float]:
        assert trace is not None
        return trace.setdefault(k, [float("nan")] * 4)

    def on_raw(_client: WsClient, payload: bytes) -> bool:
        hits = marker.findall(payload)
        if not hits:
            return False
        now = time.perf_counter()
        for hit in hits:
            k = int(hit)
            since_due = now - (t0 + k / rate)
            latencies.append(since_due)
            seen.add(k)
            if trace is not None:
                legs = traced(k)
                if legs[2] != legs[2]:  # NaN: the first delivery
                    legs[2] = since_due
                legs[3] = since_due
        state["deliveries"] += len(hits)
        if state["deliveries"] >= expected:
            all_delivered.set()
        return True

    def on_event(_client: WsClient, ev: dict[str, Any]) -> None:
        if ev.get("type") == "message":
            state["foreign"] += 1

    setup = time.perf_counter()
    fleet = await open_fleet(
        job["ws"],
        n_clients,
        job["tokens"],
        lambda i: threads[i % len(threads)],
        on_event,
        on_raw=on_raw,
        limit_s=float(job.get("setup_limit_s", 180)),
    )
    if fleet.subscribed < n_clients:
        fleet.close()
        return {
            "error": f"only {fleet.subscribed}/{n_clients} subscribed",
            "errors": dict(fleet.errors),
        }
    setup_s = time.perf_counter() - setup
    # The server's answer to a fleet connecting at once (each subscribe publishes presence to
    # the thread's other members) is over before the measured window opens.
    await asyncio.sleep(float(job.get("settle_s", 0.0)))
    receivers = Counter(threads[i % len(threads)] for i in range(n_clients))
    expected = sum(receivers[threads[k % len(threads)]] for k in range(total))
    per_message = expected / total

    http, path, tokens = job["http"], str(job.get("path", "/api/messages")), job["tokens"]
    pool: list[KeptAlive] = []
    for _ in range(int(job.get("connections", 32))):
        pool.append(await KeptAlive(http["host"], http["port"]).connect())
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    # POST sent → 202 received: tells a slow accept path from a slow delivery path.
    post_latencies = array("d")

    async def worker(i: int, client: KeptAlive) -> None:
        header = f"Authorization: Bearer {tokens[i % len(tokens)]}\r\n"
        while (k := await queue.get()) is not None:
            body = orjson.dumps(
                {
                    "thread_id": threads[k % len(threads)],
                    "text": padded_text(f"{prefix}{k}:", text_bytes),
                    "client_msg_id": f"{run}-{k}",
                }
            )
            state["max_lag"] = max(state["max_lag"], time.perf_counter() - (t0 + k / rate))
            sent_at = time.perf_counter()
            if trace is not None:
                traced(k)[0] = sent_at - (t0 + k / rate)
            try:
                # A post the server closed the connection on unanswered is sent again on a new
                # one: its latency runs from the first send.
                status, _ = await client.request("POST", path, body, header)
                answered_at = time.perf_counter()
                post_latencies.append(answered_at - sent_at)
                if trace is not None:
                    traced(k)[1] = answered_at - (t0 + k / rate)
            except ConnectFailed as exc:  # the server is gone
                errors[str(exc)[:120]] += 1
                return
            except OSError as exc:  # closed without an answer, on the retry too
                errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                continue
            statuses[status] += 1

    cpu = CpuMeter()
    mark_window("start")
    cpu.start()
    t0 = time.perf_counter() + 0.05
    workers = [asyncio.create_task(worker(i, c)) for i, c in enumerate(pool)]
    k = 0
    while k < total:
        now = time.perf_counter()
        due = min(total, int((now - t0) * rate) + 1)
        while k < due:
            queue.put_nowait(k)
            k += 1
        await asyncio.sleep(max(0.0, t0 + k / rate - time.perf_counter()))
    # A server slower than the schedule leaves POSTs queued: those never sent are dropped
    # (and counted) so that the run ends near its duration whatever the server does.
    unsent = 0
    while not queue.empty():
        queue.get_nowait()
        unsent += 1
    for _ in pool:
        queue.put_nowait(None)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*workers), float(job.get("inflight_s", 30.0)))
    send_span = time.perf_counter() - t0
    # Stragglers: wait until every delivery arrived or nothing moved for a while.
    if state["deliveries"] >= expected:
        all_delivered.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_delivered.wait(), float(job.get("drain_s", 5.0)))
    cpu_share = cpu.stop()
    mark_window("stop")
    closes = fleet.server_closes()
    fleet.close()
    for c in pool:
        c.close()
    accepted = sum(v for s, v in statuses.items() if 200 <= s < 300)
    extra: dict[str, Any] = {}
    if trace is not None:
        # JSON has no NaN: a leg that never happened is null.
        extra["trace"] = [
            [k, *(None if v != v else round(v, 6) for v in legs)]
            for k, legs in sorted(trace.items())
        ]
        extra["t0_unix"] = time.time() - (time.perf_counter() - t0)
    return {
        **extra,
        "rate": rate,
        "sent": total - unsent,
        "unsent": unsent,
        "accepted": accepted,
        "achieved_rate": total / send_span if send_span > 0 else 0.0,
        "statuses": {str(s): v for s, v in statuses.items()},
        "deliveries": state["deliveries"],
        "messages_delivered": len(seen),
        "expected": expected,
        "missing": expected - state["deliveries"],
        "expected_if_sent": expected - per_message * unsent,
        "foreign": state["foreign"],
        "max_send_lag": state["max_lag"],
        "latency": distribution(latencies),
        "post_latency": distribution(post_latencies),
        "gen_cpu": cpu_share,
        "setup_s": setup_s,
        "server_closes": closes,
        "errors": dict(fleet.errors + errors),
        # POST connections the server closed and the workers reopened; posts sent again
        # because the server closed on them unanswered
        "reconnects": sum(c.reconnects for c in pool),
        "retried": sum(c.retried for c in pool),
    }
