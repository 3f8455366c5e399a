"""Helpers of the live turn tests: an assistant member, threads, and a turn's frames."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import trio
from pymongo import MongoClient

from tests.support.ws import ChatSocket

ASSISTANT = "plugin:assistant"
# Temperature 0 and a seed: the local model gives the same reply to the same prompt.
CONFIG: dict[str, Any] = {
    "system_prompt": "You are a helpful assistant. Answer briefly.",
    "context_budget_tokens": 1024,
    "max_reply_tokens": 160,
    "temperature": 0.0,
    "seed": 7,
}
# A request that makes SmolLM2 write long enough to act in the middle of it.
LONG = "Count from 1 to 200, separated by commas."
# ... and one it answers at length: it runs to any max_reply_tokens (1000 measured; LONG ends
# after 74 tokens, ~1.5 s on an idle machine).
STORY = "Write a long story about a lighthouse keeper."


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register_assistant(
    mongo_uri: str, config: dict[str, Any] | None = None, *, assistant_id: str = ASSISTANT
) -> None:
    """What the plugin host writes for a loaded assistant plugin (assistants.AssistantDirectory)."""
    with MongoClient(mongo_uri, serverSelectionTimeoutMS=3000) as client:
        client.get_default_database()["assistants"].replace_one(
            {"_id": assistant_id}, {"config": config or CONFIG, "version": "test"}, upsert=True
        )


async def new_thread(http: httpx.AsyncClient, token: str, members: list[str]) -> str:
    created = await http.post(
        "/api/threads",
        json={"title": f"assist {uuid.uuid4().hex[:6]}", "members": members},
        headers=auth(token),
    )
    assert created.status_code == 201, created.text
    return str(created.json()["thread_id"])


async def post(http: httpx.AsyncClient, token: str, thread_id: str, text: str) -> str:
    answer = await http.post(
        "/api/messages", json={"thread_id": thread_id, "text": text}, headers=auth(token)
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["message_id"])


async def stored_messages(
    http: httpx.AsyncClient, token: str, thread_id: str
) -> list[dict[str, Any]]:
    answer = await http.get(
        f"/api/threads/{thread_id}/messages", params={"after_seq": 0}, headers=auth(token)
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["messages"])


async def stored_reply(
    http: httpx.AsyncClient, token: str, thread_id: str, turn_id: str, within: float = 20.0
) -> dict[str, Any]:
    with trio.fail_after(within):
        while True:
            for message in await stored_messages(http, token, thread_id):
                if message.get("turn_id") == turn_id:
                    return message
            await trio.sleep(0.2)


class TurnView:
    """A client's view of one turn, built only from `turn` frames (as the browser does)."""

    def __init__(self, started: dict[str, Any]) -> None:
        self.started = started
        self.turn_id = str(started["turn_id"])
        self.parts = [started["text"]] if started["text"] else []
        self.next_index = int(started["next_index"])
        self.finished: dict[str, Any] | None = None
        self.deltas = 0

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def apply(self, frame: dict[str, Any]) -> None:
        if frame["phase"] == "delta":
            assert frame["index"] == self.next_index, (frame, self.next_index)  # no gap, no dup
            self.parts.append(frame["text"])
            self.next_index += 1
            self.deltas += 1
        elif frame["phase"] == "finished":
            self.finished = frame


async def next_turn_frame(sock: ChatSocket, thread_id: str, within: float) -> dict[str, Any]:
    with trio.fail_after(within):
        while True:
            frame = await sock.next_of("turn", within=within)
            if frame["thread_id"] == thread_id:
                return frame


async def watch_turn(
    sock: ChatSocket, thread_id: str, *, until_deltas: int | None = None, within: float = 60.0
) -> TurnView:
    """Follow the thread's next turn from its `started` frame until it finishes (or until
    `until_deltas` deltas arrived, to act in the middle of it)."""
    first = await next_turn_frame(sock, thread_id, within)
    assert first["phase"] == "started", first
    view = TurnView(first)
    await follow(sock, view, until_deltas=until_deltas, within=within)
    return view


async def follow(
    sock: ChatSocket, view: TurnView, *, until_deltas: int | None = None, within: float = 60.0
) -> None:
    with trio.fail_after(within):
        while view.finished is None and (until_deltas is None or view.deltas < until_deltas):
            frame = await next_turn_frame(sock, view.started["thread_id"], within)
            assert frame["turn_id"] == view.turn_id, frame
            view.apply(frame)


# What llama.cpp's server logs when a client closes a request it is generating for.
MODEL_CANCEL_LINE = b"stop: cancel task"


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def model_cancel_logged(log: Path, offset: int, within: float = 10.0) -> float:
    """Wait until the model server's log, past `offset`, says it cancelled a request; returns
    trio.current_time() when the line was seen (polled every 5 ms)."""
    with trio.fail_after(within):
        while True:
            async with await trio.open_file(log, "rb") as file:
                await file.seek(offset)
                if MODEL_CANCEL_LINE in await file.read():
                    return trio.current_time()
            await trio.sleep(0.005)
