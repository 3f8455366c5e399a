"""Idle job: hold N authenticated, subscribed connections open while the harness reads the
server's memory; prints a `ready` line, waits for any line on stdin, then closes them all."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson

from bench.loadgen._common import open_fleet
from bench.loadgen._ws import WsClient

__all__ = ["idle"]


async def idle(job: dict[str, Any]) -> dict[str, Any]:
    n, thread = int(job["clients"]), job.get("thread_id")

    def on_event(_client: WsClient, _ev: dict[str, Any]) -> None:
        return None

    fleet = await open_fleet(
        job["ws"], n, job["tokens"], lambda i: thread, on_event, concurrency=200, limit_s=120
    )
    print(orjson.dumps({"ready": True, "connected": len(fleet.clients)}).decode(), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    still_open = sum(1 for c in fleet.clients if not c.closed.done())
    fleet.close()
    return {
        "connected": len(fleet.clients),
        "subscribed": fleet.subscribed,
        "still_open": still_open,
        "errors": dict(fleet.errors),
    }
