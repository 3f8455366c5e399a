"""Pieces every job uses: opening many authenticated, subscribed connections; a CPU meter."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.loadgen._ws import WsClient, ws_connect

__all__ = [
    "CpuMeter",
    "Fleet",
    "events_of",
    "mark_window",
    "open_fleet",
    "padded_text",
    "text_marker",
]


def events_of(payload: bytes) -> list[dict[str, Any]]:
    """A server frame carries one event object or a JSON array of them (design.md)."""
    obj = orjson.loads(payload)
    return obj if isinstance(obj, list) else [obj]


def text_marker(run: str) -> re.Pattern[bytes]:
    """Finds `"text":"RUN:K:` in a raw frame (one match per event, arrays included)."""
    return re.compile(rb'"text":\s*"' + re.escape(run.encode()) + rb":(\d+):")


def padded_text(prefix: str, size: int) -> str:
    return prefix + "x" * max(0, size - len(prefix))


def mark_window(edge: str) -> None:
    """Tell the harness the measured window starts or stops (`bench._procs.run_generator`
    samples every process's CPU as the line arrives); the result stays the last line."""
    sys.stdout.write(f'{{"window": "{edge}"}}\n')
    sys.stdout.flush()


class CpuMeter:
    """Share of one core this process used between start() and stop()."""

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def stop(self) -> float:
        wall = time.perf_counter() - self._wall
        return (time.process_time() - self._cpu) / wall if wall > 0 else 0.0


@dataclass
class Fleet:
    clients: list[WsClient] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    subscribed: int = 0
    failed: int = 0

    def server_closes(self) -> dict[str, int]:
        """Close codes the server sent (4000: slow consumer, 1008: policy...)."""
        codes = Counter(f"closed {c.close_code}" for c in self.clients if c.close_code)
        return dict(codes)

    def close(self) -> None:
        for c in self.clients:
            c.close()


async def open_fleet(
    ws: dict[str, Any],
    count: int,
    tokens: Sequence[str],
    thread_of: Callable[[int], str | None],
    on_event: Callable[[WsClient, dict[str, Any]], None],
    *,
    on_raw: Callable[[WsClient, bytes], bool] | None = None,
    concurrency: int = 100,
    limit_s: float = 60.0,
) -> Fleet:
    """Open `count` connections: auth, then subscribe client i to thread_of(i) (None: none).

    Returns once every subscription is confirmed (or the timeout passes: then the fleet is
    short and its `errors` say why). Events other than `subscribed` go to `on_event`.
    `on_raw` sees each frame first and returns True when it consumed it: the hot path of the
    receivers, which then skips building dicts for every event.
    """
    fleet = Fleet()
    want = sum(1 for i in range(count) if thread_of(i) is not None)
    all_in = asyncio.get_running_loop().create_future()
    if want == 0:
        all_in.set_result(None)

    def on_message(client: WsClient, payload: bytes) -> None:
        if on_raw is not None and on_raw(client, payload):
            return
        for ev in events_of(payload):
            kind = ev.get("type")
            if kind == "subscribed":
                fleet.subscribed += 1
            elif kind == "error":
                fleet.errors[f"{ev.get('code')}: {ev.get('message')}"[:120]] += 1
                fleet.failed += 1
                on_event(client, ev)
            else:
                on_event(client, ev)
        if fleet.subscribed + fleet.failed >= want and not all_in.done():
            all_in.set_result(None)

    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            try:
                c = await ws_connect(ws["host"], ws["port"], ws["path"], on_message, tag=i)
            except (TimeoutError, OSError) as exc:
                fleet.errors[f"connect: {type(exc).__name__}: {exc}"[:120]] += 1
                return
            fleet.clients.append(c)
            c.send(orjson.dumps({"type": "auth", "token": tokens[i % len(tokens)]}))
            thread = thread_of(i)
            if thread is not None:
                c.send(orjson.dumps({"type": "subscribe", "thread_id": thread, "since_seq": 0}))

    await asyncio.gather(*(one(i) for i in range(count)))
    try:
        await asyncio.wait_for(all_in, limit_s)
    except TimeoutError:
        fleet.errors["subscribe timeout"] += 1
    return fleet
