"""Fan-out job: N subscribers on one thread, one sender sends M messages; deliveries/s, latency.

Throughput is counted from the first delivery to the last, so the pipeline's start-up delay
(Kafka, persistence) does not dilute it; that delay shows in the delivery latency instead,
which runs from the moment the sender wrote the frame to the moment a receiver parsed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from typing import Any

import orjson

from bench.loadgen._common import CpuMeter, open_fleet, padded_text, text_marker
from bench.loadgen._stats import distribution
from bench.loadgen._ws import WsClient

__all__ = ["fanout"]


async def fanout(job: dict[str, Any]) -> dict[str, Any]:
    n, m, window = int(job["clients"]), int(job["messages"]), int(job.get("window", 64))
    thread, run = str(job["thread_id"]), str(job["run_id"])
    idle_timeout = float(job.get("idle_timeout", 10.0))
    sent_at = array("d", [0.0] * m)
    latencies = array("d")
    state: dict[str, float] = {"deliveries": 0, "first": 0.0, "last": 0.0, "foreign": 0}
    done = asyncio.get_running_loop().create_future()
    expected = n * m
    prefix = run + ":"

    marker = text_marker(run)

    def on_raw(_client: WsClient, payload: bytes) -> bool:
        hits = marker.findall(payload)
        if not hits:
            return False
        now = time.perf_counter()
        for k in hits:
            latencies.append(now - sent_at[int(k)])
        if state["deliveries"] == 0:
            state["first"] = now
        state["last"] = now
        state["deliveries"] += len(hits)
        if state["deliveries"] >= expected and not done.done():
            done.set_result(None)
        return True

    def on_event(_client: WsClient, ev: dict[str, Any]) -> None:
        if ev.get("type") == "message":
            state["foreign"] += 1  # a message of another run (history replayed on subscribe)

    fleet = await open_fleet(
        job["ws"],
        n,
        job["tokens"],
        lambda i: thread,
        on_event,
        on_raw=on_raw,
        limit_s=float(job.get("setup_limit_s", 180)),
    )
    if fleet.subscribed < n:
        fleet.close()
        return {"error": f"only {fleet.subscribed}/{n} subscribed", "errors": dict(fleet.errors)}

    credit = asyncio.Semaphore(window)
    acks = {"n": 0, "errors": 0, "last": 0.0}

    def on_sender_event(_client: WsClient, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "ack":
            acks["n"] += 1
            acks["last"] = time.perf_counter()
            credit.release()
        elif kind == "error":
            acks["errors"] += 1
            credit.release()

    sender_fleet = await open_fleet(
        job["ws"], 1, [job.get("sender_token", job["tokens"][0])], lambda i: None, on_sender_event
    )
    if not sender_fleet.clients:
        fleet.close()
        return {"error": "sender could not connect", "errors": dict(sender_fleet.errors)}
    sender = sender_fleet.clients[0]
    await asyncio.sleep(0.2)  # let the sender's auth frame be processed first
    cpu = CpuMeter()
    cpu.start()
    t0 = time.perf_counter()
    for k in range(m):
        await credit.acquire()
        body = orjson.dumps(
            {
                "type": "send",
                "thread_id": thread,
                "client_msg_id": f"{run}-{k}",
                "text": padded_text(f"{prefix}{k}:", int(job.get("text_bytes", 100))),
            }
        )
        sent_at[k] = time.perf_counter()
        sender.send(body)
    # Wait for every delivery, giving up after `idle_timeout` without progress.
    seen: float = -1
    while not done.done() and seen != state["deliveries"]:
        seen = state["deliveries"]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), idle_timeout)
    cpu_share = cpu.stop()
    closes = fleet.server_closes()
    fleet.close()
    sender_fleet.close()
    span = state["last"] - state["first"]
    return {
        "deliveries": state["deliveries"],
        "expected": expected,
        "deliveries_per_s": (state["deliveries"] - n) / span if span > 0 else 0.0,
        "messages_per_s": m / (acks["last"] - t0) if acks["last"] > t0 else 0.0,
        "acks": acks["n"],
        "send_errors": acks["errors"],
        "foreign": state["foreign"],
        "latency": distribution(latencies),
        "gen_cpu": cpu_share,
        "server_closes": closes,
        "errors": dict(fleet.errors + sender_fleet.errors),
    }
