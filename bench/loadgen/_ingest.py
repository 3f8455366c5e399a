"""Ingest jobs: closed-loop REST POSTs (like wrk) and windowed WebSocket sends awaiting acks.

Both warm up first and count only completions inside the measured window.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from array import array
from collections import Counter
from typing import Any

import orjson

from bench.loadgen._common import CpuMeter, mark_window, open_fleet, padded_text
from bench.loadgen._http import ConnectFailed, KeptAlive
from bench.loadgen._stats import distribution
from bench.loadgen._ws import WsClient

__all__ = ["ingest_rest", "ingest_ws"]


async def ingest_rest(job: dict[str, Any]) -> dict[str, Any]:
    http, path = job["http"], str(job.get("path", "/api/messages"))
    conns, duration = int(job["connections"]), float(job["duration"])
    warmup = float(job.get("warmup", 0.5))
    tokens, threads = job["tokens"], job["thread_ids"]
    text = padded_text("ingest:", int(job.get("text_bytes", 100)))
    statuses: Counter[int] = Counter()
    latencies = array("d")
    errors: Counter[str] = Counter()
    ids = itertools.count()
    # Parley remembers client_msg_id per user across runs: every run needs fresh ones.
    pid = uuid.uuid4().hex[:10]
    t_start = time.perf_counter() + warmup
    t_end = t_start + duration

    conn_list = [KeptAlive(http["host"], http["port"]) for _ in range(conns)]

    async def worker(i: int) -> None:
        client = conn_list[i]
        try:
            await client.connect()
        except ConnectFailed as exc:
            errors[str(exc)[:120]] += 1
            return
        header = f"Authorization: Bearer {tokens[i % len(tokens)]}\r\n"
        thread = threads[i % len(threads)]
        while True:
            body = orjson.dumps(
                {"thread_id": thread, "text": text, "client_msg_id": f"b{pid}-{next(ids)}"}
            )
            t = time.perf_counter()
            if t >= t_end:
                break
            try:
                status, _ = await client.request("POST", path, body, header)
            except ConnectFailed as exc:  # the server is gone
                errors[str(exc)[:120]] += 1
                break
            except OSError as exc:  # closed without an answer, on the retry too
                errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                continue
            done = time.perf_counter()
            # Completions inside the window count (as wrk counts them), whenever they started.
            if t_start <= done <= t_end:
                statuses[status] += 1
                latencies.append(done - t)
        client.close()

    async def window() -> None:
        await asyncio.sleep(max(0.0, t_start - time.perf_counter()))
        mark_window("start")
        await asyncio.sleep(max(0.0, t_end - time.perf_counter()))
        mark_window("stop")

    cpu = CpuMeter()
    await asyncio.sleep(0)
    cpu.start()
    await asyncio.gather(window(), *(worker(i) for i in range(conns)))
    cpu_share = cpu.stop()
    accepted = sum(v for k, v in statuses.items() if 200 <= k < 300)
    return {
        "accepted": accepted,
        "accepted_per_s": accepted / duration,
        "statuses": {str(k): v for k, v in statuses.items()},
        "latency": distribution(latencies, points=50),
        "gen_cpu": cpu_share,
        "errors": dict(errors),
        # Connections the server closed (keep-alive limits, drains) and the workers reopened;
        # posts it closed on unanswered, sent again on the new connection
        "reconnects": sum(c.reconnects for c in conn_list),
        "retried": sum(c.retried for c in conn_list),
    }


async def ingest_ws(job: dict[str, Any]) -> dict[str, Any]:
    conns, window, duration = int(job["connections"]), int(job["window"]), float(job["duration"])
    warmup = float(job.get("warmup", 0.5))
    threads = job["thread_ids"]
    text = padded_text("ingest-ws:", int(job.get("text_bytes", 100)))
    counts = {"acks": 0, "errors": 0}
    ids = itertools.count()
    run = uuid.uuid4().hex[:10]
    stopping = False
    t_start = 0.0
    t_end = 0.0

    def send_one(client: WsClient) -> None:
        client.send(
            orjson.dumps(
                {
                    "type": "send",
                    "thread_id": threads[client.tag % len(threads)],
                    "client_msg_id": f"w{run}-{next(ids)}",
                    "text": text,
                }
            )
        )

    def on_event(client: WsClient, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind not in ("ack", "error"):
            return
        now = time.perf_counter()
        if t_start <= now <= t_end:
            counts["acks" if kind == "ack" else "errors"] += 1
        if not stopping:
            send_one(client)

    fleet = await open_fleet(job["ws"], conns, job["tokens"], lambda i: None, on_event)
    await asyncio.sleep(0.2)  # auth frames first
    cpu = CpuMeter()
    cpu.start()
    t_start = time.perf_counter() + warmup
    t_end = t_start + duration
    for client in fleet.clients:
        for _ in range(window):
            send_one(client)
    await asyncio.sleep(max(0.0, t_start - time.perf_counter()))
    mark_window("start")
    await asyncio.sleep(t_end - time.perf_counter())
    mark_window("stop")
    stopping = True
    cpu_share = cpu.stop()
    await asyncio.sleep(0.2)
    fleet.close()
    return {
        "acked": counts["acks"],
        "acked_per_s": counts["acks"] / duration,
        "send_errors": counts["errors"],
        "connected": len(fleet.clients),
        "gen_cpu": cpu_share,
        "errors": dict(fleet.errors),
    }
