"""The assistants scenario's clients: a WebSocket subscriber that stamps each `turn` frame as
it arrives, one reply through Parley or straight from the model server, and replies kept
streaming in the background (a thread with its own Trio run) while the chat is measured.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from adapters import ChatRequest
from assistants import AssistantConfig, HistoryMessage, build_prompt
from bench._errors import BenchError
from bench._targets import ParleyTarget
from bench._turn_figures import Stream, question

__all__ = [
    "ASSISTANT",
    "ASSISTANT_LONG",
    "CONFIG",
    "FIRST_TOKEN_MAX_TOKENS",
    "MODEL",
    "STREAMS",
    "STREAM_MAX_TOKENS",
    "Background",
    "Load",
    "Side",
    "direct_body",
    "direct_stream",
    "through_parley",
    "watching",
]

MODEL = "SmolLM2-135M-Instruct"
ASSISTANT = "plugin:bench-assistant"
# The same assistant with longer replies, for the turns that stream behind the chat
ASSISTANT_LONG = "plugin:bench-assistant-long"
# First-token rounds: a short reply bounds each round (~0.6 s at ~50 tokens/s).
FIRST_TOKEN_MAX_TOKENS = 32
# Background turns: long enough to stream through an e2e window; looped regardless.
STREAM_MAX_TOKENS = 200
STREAMS = 4
CONTEXT_TOKENS = 2048  # PARLEY_LLM_CONTEXT_TOKENS' default, and the server's per-slot context
CONFIG: dict[str, Any] = {
    "system_prompt": "You are a helpful assistant. Answer briefly.",
    "context_budget_tokens": 1024,
    "max_reply_tokens": FIRST_TOKEN_MAX_TOKENS,
    "temperature": 0.0,
    "seed": 7,
}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- a subscriber's view -------------------------------------------------------------------
@dataclass
class Seen:
    """Frames of one thread, each with its arrival (perf_counter)."""

    turns: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    subscribed: bool = False


class Watch:
    """One WebSocket that follows threads and stamps each frame as it arrives."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.threads: dict[str, Seen] = {}
        self._tick = trio.Event()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_message(orjson.dumps(frame).decode())

    async def read(self) -> None:
        while True:
            raw = await self.ws.get_message()
            now = time.perf_counter()
            decoded = orjson.loads(raw)
            for frame in decoded if isinstance(decoded, list) else [decoded]:
                seen = self.threads.get(str(frame.get("thread_id")))
                if seen is None:
                    if frame.get("type") == "error":
                        raise BenchError(f"the WebSocket answered {frame}")
                    continue
                kind = frame.get("type")
                if kind == "turn":
                    seen.turns.append((now, frame))
                elif kind == "message":
                    seen.messages.append(frame)
                elif kind == "subscribed":
                    seen.subscribed = True
                elif kind == "error":
                    raise BenchError(f"the WebSocket answered {frame}")
            self._tick.set()
            self._tick = trio.Event()

    async def until(self, done: Callable[[], bool], within: float) -> None:
        with trio.fail_after(within):
            while not done():
                await self._tick.wait()

    async def follow(self, thread_id: str) -> Seen:
        seen = self.threads[thread_id] = Seen()
        await self.send({"type": "subscribe", "thread_id": thread_id, "since_seq": 0})
        await self.until(lambda: seen.subscribed, 10)
        return seen

    async def unfollow(self, thread_id: str) -> None:
        await self.send({"type": "unsubscribe", "thread_id": thread_id})
        self.threads.pop(thread_id, None)


@contextlib.asynccontextmanager
async def watching(target: ParleyTarget, token: str) -> AsyncIterator[Watch]:
    ws = target.ws
    url = f"ws://{ws['host']}:{ws['port']}{ws['path']}"
    async with open_websocket_url(url) as conn, trio.open_nursery() as nursery:
        watch = Watch(conn)
        await watch.send({"type": "auth", "token": token})
        nursery.start_soon(watch.read)
        yield watch
        nursery.cancel_scope.cancel()


def finished_frame(seen: Seen) -> dict[str, Any] | None:
    return next((f for _, f in seen.turns if f.get("phase") == "finished"), None)


# --- one reply each way --------------------------------------------------------------------
async def new_thread(http: httpx.AsyncClient, token: str, members: list[str]) -> str:
    created = await http.post(
        "/api/threads",
        json={"title": f"assist {uuid.uuid4().hex[:6]}", "members": members},
        headers=_auth(token),
    )
    if created.status_code != 201:
        raise BenchError(f"POST /api/threads: HTTP {created.status_code} {created.text[:200]}")
    return str(created.json()["thread_id"])


async def post(http: httpx.AsyncClient, token: str, thread_id: str, text: str) -> str:
    answer = await http.post(
        "/api/messages", json={"thread_id": thread_id, "text": text}, headers=_auth(token)
    )
    if answer.status_code != 202:
        raise BenchError(f"POST /api/messages: HTTP {answer.status_code} {answer.text[:200]}")
    return str(answer.json()["message_id"])


@dataclass
class Side:
    """What both sides of the first-token rounds need."""

    http: httpx.AsyncClient
    model: httpx.AsyncClient
    watch: Watch
    token: str
    members: list[str]
    sender: str = ""  # the user's sender_id as stored: the name in Parley's prompt


async def through_parley(side: Side, text: str) -> Stream:
    """`text` sent on the subscriber's own WebSocket, as the browser sends (`send`), into a
    fresh thread with the assistant; the reply as the same socket received it."""
    thread = await new_thread(side.http, side.token, side.members)
    seen = await side.watch.follow(thread)
    sent = time.perf_counter()
    await side.watch.send(
        {"type": "send", "thread_id": thread, "client_msg_id": uuid.uuid4().hex, "text": text}
    )
    await side.watch.until(lambda: finished_frame(seen) is not None, 90)
    done = finished_frame(seen)
    assert done is not None
    if done.get("status") != "complete":
        raise BenchError(f"a bench turn finished {done.get('status')}: {done}")
    pieces = tuple(t - sent for t, f in seen.turns if f.get("phase") == "delta")
    ended = next(t for t, f in seen.turns if f.get("phase") == "finished") - sent
    began = next(t for t, f in seen.turns if f.get("phase") == "started") - sent
    reply = "".join(str(f["text"]) for _, f in seen.turns if f.get("phase") == "delta")
    # The stored message (live on the socket) names the sender Parley prompted; the text is
    # new in every round.
    await side.watch.until(lambda: any(m["text"] == text for m in seen.messages), 10)
    side.sender = next(str(m["sender_id"]) for m in seen.messages if m["text"] == text)
    await side.watch.unfollow(thread)
    return Stream(pieces, ended, reply, started=began)


def direct_body(sender: str, text: str, max_tokens: int) -> dict[str, Any]:
    """The request Parley's core sends for a fresh thread holding one message by `sender`."""
    config = AssistantConfig.load(
        {**CONFIG, "max_reply_tokens": max_tokens}, context_tokens=CONTEXT_TOKENS
    )
    prompt = build_prompt(
        config.system_prompt, [HistoryMessage(sender, text)], config.budget(CONTEXT_TOKENS)
    )
    request = ChatRequest(
        prompt.messages,
        max_tokens=config.max_reply_tokens,
        temperature=config.temperature,
        seed=config.seed,
    )
    return request.body(MODEL)


async def direct_stream(model: httpx.AsyncClient, body: dict[str, Any]) -> Stream:
    """One reply straight from the model server: a bare SSE reader on a kept-alive
    connection, as Parley's own client has."""
    pieces: list[float] = []
    parts: list[str] = []
    sent = time.perf_counter()
    async with model.stream("POST", "chat/completions", json=body) as response:
        if response.status_code != 200:
            raise BenchError(f"the model server answered HTTP {response.status_code}")
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            choices = orjson.loads(data).get("choices") or []
            content = choices[0].get("delta", {}).get("content") if choices else None
            if content:
                pieces.append(time.perf_counter() - sent)
                parts.append(content)
    return Stream(tuple(pieces), time.perf_counter() - sent, "".join(parts))


# --- load in the background ----------------------------------------------------------------
@dataclass
class Load:
    turns: int = 0
    deltas: int = 0
    errors: list[str] = field(default_factory=list)


class Background:
    """`STREAMS` replies kept streaming in a thread of its own (a Trio run), until closed:
    assistant turns through Parley, or requests straight to the model."""

    def __init__(self, target: ParleyTarget, model_url: str, *, through_parley: bool) -> None:
        self.target = target
        self.model_url = model_url
        self.through_parley = through_parley
        self.load = Load()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._ready.wait(0.1):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__()
                raise BenchError(
                    f"{STREAMS} background streams did not all start in 60 s: "
                    f"{self._failed!r} {self.load.errors[:3]}"
                )
        return self.load

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        if self._failed is not None:
            raise BenchError(f"background streams failed: {self._failed!r}")

    def _main(self) -> None:
        try:
            trio.run(self._run)
        except BaseException as exc:  # reported to the caller by __enter__/__exit__
            self._failed = exc

    async def _run(self) -> None:
        started = [trio.Event() for _ in range(STREAMS)]
        async with trio.open_nursery() as nursery:

            async def ready() -> None:
                for event in started:
                    await event.wait()
                self._ready.set()

            nursery.start_soon(ready)
            if self.through_parley:
                nursery.start_soon(self._turns, started)
            else:
                nursery.start_soon(self._model, started)
            while not self._stop.is_set():  # noqa: ASYNC110 (set by another thread)
                await trio.sleep(0.05)
            nursery.cancel_scope.cancel()

    async def _model(self, started: list[trio.Event]) -> None:
        url = self.model_url.rstrip("/") + "/"
        async with httpx.AsyncClient(base_url=url, timeout=60) as m, trio.open_nursery() as n:
            for i, event in enumerate(started):
                n.start_soon(self._model_loop, m, i, event)

    async def _model_loop(self, model: httpx.AsyncClient, i: int, started: trio.Event) -> None:
        for k in range(10**6):
            body = direct_body("bench-0", question(300 + (i * 97 + k) % 500), STREAM_MAX_TOKENS)
            async with model.stream("POST", "chat/completions", json=body) as response:
                if response.status_code != 200:
                    raise BenchError(f"the model server answered HTTP {response.status_code}")
                async for line in response.aiter_lines():
                    if line.startswith("data:") and '"content":"' in line:
                        self.load.deltas += 1
                        started.set()
            self.load.turns += 1

    async def _turns(self, started: list[trio.Event]) -> None:
        target = self.target
        token = target.tokens(1)[0]
        members = [*target._users[:2], ASSISTANT_LONG]
        async with (
            httpx.AsyncClient(base_url=target._api, timeout=30) as http,
            watching(target, token) as watch,
        ):
            threads = [await new_thread(http, token, members) for _ in started]
            seen = [await watch.follow(t) for t in threads]
            try:
                async with trio.open_nursery() as nursery:
                    for i in range(len(threads)):
                        nursery.start_soon(
                            self._turn_loop, http, watch, token, threads[i], seen[i], started[i]
                        )
            finally:
                # Stop what still streams, so the next round starts quiet.
                with trio.CancelScope(shield=True), trio.move_on_after(15):
                    for thread, s in zip(threads, seen, strict=True):
                        running = [f for _, f in s.turns if f.get("phase") == "started"]
                        if running and _finished_of(s, str(running[-1]["turn_id"])) is None:
                            turn_id = str(running[-1]["turn_id"])
                            await watch.send(
                                {"type": "stop", "thread_id": thread, "turn_id": turn_id}
                            )

    async def _turn_loop(
        self,
        http: httpx.AsyncClient,
        watch: Watch,
        token: str,
        thread: str,
        seen: Seen,
        started: trio.Event,
    ) -> None:
        cursor = len(seen.turns)
        for k in range(10**6):
            await post(http, token, thread, question(300 + (len(thread) * 31 + k) % 500))
            while True:
                await watch.until(functools.partial(_grew, seen, cursor), 90)
                fresh = [f for _, f in seen.turns[cursor:]]
                cursor += len(fresh)
                deltas = sum(1 for f in fresh if f.get("phase") == "delta")
                if deltas:
                    self.load.deltas += deltas
                    started.set()
                done = [f for f in fresh if f.get("phase") == "finished"]
                if done:
                    if done[-1].get("status") != "complete":
                        self.load.errors.append(str(done[-1].get("reason")))
                    break
            self.load.turns += 1


def _grew(seen: Seen, count: int) -> bool:
    return len(seen.turns) > count


def _finished_of(seen: Seen, turn_id: str) -> dict[str, Any] | None:
    return next(
        (f for _, f in seen.turns if f.get("phase") == "finished" and f["turn_id"] == turn_id),
        None,
    )
