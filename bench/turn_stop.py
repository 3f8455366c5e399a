"""`python -m bench.turn_stop [--turns 10]`: how fast Stop stops an assistant's turn.

    .venv/bin/python -m bench.turn_stop --turns 10 [--out /tmp/turn-stop.json]

Starts, all on 127.0.0.1 and free ports in a temporary state directory: the local model server
(infra.LlmServer: llama.cpp serving SmolLM2-135M-Instruct, one thread), the local services
(Kafka, the store, the OIDC provider) and `parley serve` pointed at that model server, with an
assistant member registered. Then, `--turns` times, one after the other: a new thread with the
assistant, a question that makes the model write long, three deltas on the WebSocket, then a
`stop` frame; it measures from the stop frame sent to

- the `turn` frame `finished` with status `stopped` on the same WebSocket (what a member sees),
- the model server's log line saying it cancelled the request (llama.cpp's
  `stop: cancel task`: the upstream request was closed; the log is polled every 5 ms).

Prints p50 and p99 in ms (with fewer than 100 turns p99 is the largest). Not a test: the
figures move with the load on the machine's two shared cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import trio
from pymongo import MongoClient
from trio_websocket import WebSocketConnection, open_websocket_url

from bench._errors import BenchError
from bench._targets import ParleyTarget
from bench.history_scale import quantiles

__all__ = ["main"]

ASSISTANT = "plugin:assistant"
CONFIG: dict[str, Any] = {
    "system_prompt": "You are a helpful assistant. Answer briefly.",
    "context_budget_tokens": 1024,
    "max_reply_tokens": 200,
    "temperature": 0.0,
    "seed": 7,
}
LONG = "Count from 1 to 200, separated by commas."
DELTAS_BEFORE_STOP = 3
MAX_TURNS = 100
# What llama.cpp's server logs when a client closes a request it is generating for.
CANCEL_LINE = b"stop: cancel task"


class _Socket:
    """One WebSocket; `turn_frame` returns a thread's turn frames in order (batches unpacked)."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self._pending: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_message(json.dumps(frame))

    async def turn_frame(self, thread_id: str) -> dict[str, Any]:
        while not self._pending:
            decoded = json.loads(await self.ws.get_message())
            for frame in decoded if isinstance(decoded, list) else [decoded]:
                if frame.get("type") == "error":
                    raise BenchError(f"the server refused a command: {frame}")
                if frame.get("type") == "turn" and frame.get("thread_id") == thread_id:
                    self._pending.append(frame)
        return self._pending.pop(0)


async def _cancel_logged(log: Path, offset: int) -> float:
    while True:
        async with await trio.open_file(log, "rb") as file:
            await file.seek(offset)
            if CANCEL_LINE in await file.read():
                return time.perf_counter()
        await trio.sleep(0.005)


async def _one_turn(
    sock: _Socket, http: httpx.AsyncClient, token: str, thread_id: str, log: Path
) -> tuple[float, float]:
    answer = await http.post(
        "/api/messages",
        json={"thread_id": thread_id, "text": LONG},
        headers={"Authorization": f"Bearer {token}"},
    )
    if answer.status_code != 202:
        raise BenchError(f"POST /api/messages: HTTP {answer.status_code} {answer.text[:200]}")
    started = await sock.turn_frame(thread_id)
    if started["phase"] != "started":
        raise BenchError(f"expected the turn to start, got {started}")
    deltas = 0
    while deltas < DELTAS_BEFORE_STOP:
        frame = await sock.turn_frame(thread_id)
        if frame["phase"] != "delta":
            raise BenchError(f"the turn ended before {DELTAS_BEFORE_STOP} deltas: {frame}")
        deltas += 1
    offset = (await trio.Path(log).stat()).st_size
    sent = time.perf_counter()
    await sock.send({"type": "stop", "thread_id": thread_id, "turn_id": started["turn_id"]})
    seen: dict[str, float] = {}

    async def finished() -> None:
        while True:
            frame = await sock.turn_frame(thread_id)
            if frame["phase"] == "finished":
                if frame["status"] != "stopped":
                    raise BenchError(f"the turn did not finish as stopped: {frame}")
                seen["finished"] = time.perf_counter()
                return

    async def cancelled() -> None:
        seen["cancel"] = await _cancel_logged(log, offset)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(finished)
            nursery.start_soon(cancelled)
    return seen["finished"] - sent, seen["cancel"] - sent


async def _measure(
    target: ParleyTarget, threads: Sequence[str], log: Path
) -> tuple[list[float], list[float]]:
    token = target.tokens(1)[0]
    ws = target.ws
    url = f"ws://{ws['host']}:{ws['port']}{ws['path']}"
    finished: list[float] = []
    cancelled: list[float] = []
    base = f"http://{target.http['host']}:{target.http['port']}"
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as http,
        open_websocket_url(url) as conn,
    ):
        sock = _Socket(conn)
        await sock.send({"type": "auth", "token": token})
        for thread_id in threads:
            await sock.send({"type": "subscribe", "thread_id": thread_id, "since_seq": 0})
        for n, thread_id in enumerate(threads, 1):
            to_finished, to_cancel = await _one_turn(sock, http, token, thread_id, log)
            finished.append(to_finished)
            cancelled.append(to_cancel)
            print(
                f"turn {n}: stop -> finished {to_finished * 1000:.0f} ms, "
                f"-> model server cancel {to_cancel * 1000:.0f} ms",
                flush=True,
            )
    return finished, cancelled


def _register_assistant(mongo_uri: str) -> None:
    """What the plugin host writes for a loaded assistant plugin."""
    with MongoClient(mongo_uri, serverSelectionTimeoutMS=5000) as client:
        client.get_default_database()["assistants"].replace_one(
            {"_id": ASSISTANT}, {"config": CONFIG, "version": "bench"}, upsert=True
        )


def main(argv: Sequence[str] | None = None) -> int:
    from infra import LlmServer, find_free_port

    parser = argparse.ArgumentParser(prog="python -m bench.turn_stop", description=__doc__)
    parser.add_argument("--turns", type=int, default=10, help=f"1..{MAX_TURNS}")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.turns <= MAX_TURNS:
        parser.error(f"--turns must be within 1..{MAX_TURNS}")
    with tempfile.TemporaryDirectory(prefix="parley-turn-stop-") as tmp:
        llm = LlmServer(Path(tmp), find_free_port(), alias="SmolLM2-135M-Instruct")
        llm.start()
        try:
            target = ParleyTarget(
                users=2,
                extra_env={
                    "PARLEY_LLM_BASE_URL": llm.base_url,
                    "PARLEY_TURNS_PER_USER_PER_MINUTE": "1000",
                },
                members=[ASSISTANT],
                name="parley",
            )
            try:
                _register_assistant(target.mongo_uri)
                threads = target.new_threads(args.turns, 2)
                finished, cancelled = trio.run(_measure, target, threads, llm.log_path)
            finally:
                target.close()
        finally:
            llm.stop()
    to_finished, to_cancel = quantiles(finished), quantiles(cancelled)
    for name, q in (("stop -> finished", to_finished), ("stop -> model cancel", to_cancel)):
        print(
            f"{name}: p50 {q['p50_ms']:.0f} ms, p99 {q['p99_ms']:.0f} ms ({q['count']:.0f} turns)"
        )
    figures = {
        "turns": args.turns,
        "stop_to_finished": to_finished,
        "stop_to_model_cancel": to_cancel,
    }
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
