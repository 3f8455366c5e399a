"""Soak job: hold N subscribed connections and POST at a fixed rate for a long time, saying
every `interval_s` what the window's deliveries took.

The e2e job's measure (from the moment a POST was due to the frame received, so a server that
falls behind is charged for it), but reported per window instead of once: the harness samples
the server's memory, descriptors and tasks as each window line arrives, so every sample has
the latency of the same seconds beside it.

Lines on stdout, in order: `{"ready": ...}` once the fleet is subscribed, one `{"tick": ...}`
per window (latencies as 1%-wide log buckets, which the harness merges over any span; the
last one says `"last": true` and waits for a line on stdin), and the result last.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from typing import Any

import orjson

from bench.loadgen._common import open_fleet, padded_text, text_marker
from bench.loadgen._http import HttpClient, http_connect
from bench.loadgen._stats import histogram_percentile, log_bucket
from bench.loadgen._ws import WsClient

__all__ = ["soak"]


def _line(obj: dict[str, Any]) -> None:
    print(orjson.dumps(obj).decode(), flush=True)


async def soak(job: dict[str, Any]) -> dict[str, Any]:
    rate, duration = float(job["rate"]), float(job["duration"])
    interval = float(job.get("interval_s", 10.0))
    n_clients, threads = int(job["clients"]), list(job["thread_ids"])
    run = str(job["run_id"])
    prefix = run + ":"
    total = max(1, int(rate * duration))
    text_bytes = int(job.get("text_bytes", 100))
    window: Counter[int] = Counter()  # latency buckets of the deliveries of this window
    posts: Counter[int] = Counter()  # POST sent → 202, of this window: a slow accept path
    counts = {"deliveries": 0, "accepted": 0, "refused": 0, "lost": 0, "reconnects": 0}
    errors: Counter[str] = Counter()
    t0 = 0.0
    marker = text_marker(run)

    def on_raw(_client: WsClient, payload: bytes) -> bool:
        hits = marker.findall(payload)
        if not hits:
            return False
        now = time.perf_counter()
        for k in hits:
            window[log_bucket(now - (t0 + int(k) / rate))] += 1
        counts["deliveries"] += len(hits)
        return True

    def on_event(_client: WsClient, _ev: dict[str, Any]) -> None:
        return None

    setup = time.perf_counter()
    fleet = await open_fleet(
        job["ws"],
        n_clients,
        job["tokens"],
        lambda i: threads[i % len(threads)],
        on_event,
        on_raw=on_raw,
        concurrency=200,
        limit_s=float(job.get("setup_limit_s", 300)),
    )
    if fleet.subscribed < n_clients:
        fleet.close()
        return {
            "error": f"only {fleet.subscribed}/{n_clients} subscribed",
            "errors": dict(fleet.errors),
        }
    receivers = Counter(threads[i % len(threads)] for i in range(n_clients))
    per_message = sum(receivers.values()) / len(threads)
    _line({"ready": True, "subscribed": fleet.subscribed, "setup_s": time.perf_counter() - setup})

    http, path, tokens = job["http"], str(job.get("path", "/api/messages")), job["tokens"]
    pool: list[HttpClient] = [
        await http_connect(http["host"], http["port"]) for _ in range(int(job["connections"]))
    ]
    queue: asyncio.Queue[int | None] = asyncio.Queue()

    async def worker(i: int, client: HttpClient) -> None:
        header = f"Authorization: Bearer {tokens[i % len(tokens)]}\r\n"
        while (k := await queue.get()) is not None:
            body = orjson.dumps(
                {
                    "thread_id": threads[k % len(threads)],
                    "text": padded_text(f"{prefix}{k}:", text_bytes),
                    "client_msg_id": f"{run}-{k}",
                }
            )
            for attempt in range(2):
                sent_at = time.perf_counter()
                try:
                    status, _ = await client.request("POST", path, body, header)
                    posts[log_bucket(time.perf_counter() - sent_at)] += 1
                    break
                except (OSError, ConnectionError) as exc:
                    # The server ends a keep-alive connection after so many requests
                    # (hypercorn: 1,000), which a long run reaches: connect again and send
                    # once more (client_msg_id makes a repeat harmless). Twice in a row: lost.
                    if attempt == 0:
                        counts["reconnects"] += 1
                        with contextlib.suppress(OSError):
                            client = pool[i] = await http_connect(http["host"], http["port"])
                            continue
                    errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                    counts["lost"] += 1
                    return
            counts["accepted" if 200 <= status < 300 else "refused"] += 1

    def tick(n: int, sent: int, last: bool) -> None:
        hist, post_hist = dict(window), dict(posts)
        window.clear()
        posts.clear()
        _line(
            {
                "tick": n,
                "last": last,
                "t": time.perf_counter() - t0,
                "sent": sent,
                "accepted": counts["accepted"],
                "refused": counts["refused"],
                "deliveries": counts["deliveries"],
                "backlog": queue.qsize(),
                "open": sum(1 for c in fleet.clients if not c.closed.done()),
                "p99": histogram_percentile(hist, 99),
                "post_p99": histogram_percentile(post_hist, 99),
                "hist": {str(b): c for b, c in hist.items()},
            }
        )

    loop = asyncio.get_running_loop()
    t0 = time.perf_counter() + 0.05
    workers = [asyncio.create_task(worker(i, c)) for i, c in enumerate(pool)]
    k, ticks = 0, 0
    # The last window ends with the schedule, under load like every other: the end sample is
    # of a server at work, not of one that has gone quiet.
    while True:
        now = time.perf_counter()
        due = min(total, int((now - t0) * rate) + 1)
        while k < due:
            queue.put_nowait(k)
            k += 1
        if now - t0 >= (ticks + 1) * interval:
            ticks += 1
            last = ticks * interval >= duration
            tick(ticks, k - queue.qsize(), last)
            if last:
                break
        next_tick = t0 + (ticks + 1) * interval
        wake = min(t0 + k / rate, next_tick) if k < total else next_tick
        await asyncio.sleep(max(0.0, wake - time.perf_counter()))
    if job.get("hold_last", True):
        # The harness samples the server on the last tick line, then says go on: the clients
        # stay connected (and the last POSTs in flight) until it has.
        await loop.run_in_executor(None, sys.stdin.readline)
    unsent = 0
    while not queue.empty():
        queue.get_nowait()
        unsent += 1
    for _ in pool:
        queue.put_nowait(None)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*workers), float(job.get("inflight_s", 30.0)))
    # Stragglers still count as delivered (not in any window's latencies).
    await asyncio.sleep(float(job.get("drain_s", 5.0)))
    still_open = sum(1 for c in fleet.clients if not c.closed.done())
    closes = fleet.server_closes()
    fleet.close()
    for c in pool:
        if c.transport is not None:
            c.transport.close()
    return {
        "rate": rate,
        "sent": total - unsent,
        "unsent": unsent,
        "accepted": counts["accepted"],
        "refused": counts["refused"],
        "deliveries": counts["deliveries"],
        "expected": round(per_message * (total - unsent)),
        "still_open": still_open,
        "reconnects": counts["reconnects"],
        "lost": counts["lost"],
        "server_closes": closes,
        "errors": dict(fleet.errors + errors),
    }
