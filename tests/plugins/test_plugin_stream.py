"""A plugin's streamed reply reaches every subscriber as `turn` frames, then is stored once.

Real Kafka, FerretDB, OIDC provider, Git and processes: a gateway+core process and a
separate plugin host whose plugin answers with `ctx.stream()`. A WebSocket subscriber sees
the reply grow (started, numbered deltas, finished `complete`) exactly as it sees an
assistant's turn, and the stored message carries the stream's id and its whole text. The
mapping of each stream part to its turn record is checked without services too.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import httpx
import pytest

from config.settings import Settings
from plugins._context import HookContext
from plugins._services import stream_turn_record
from plugins._settings import Mode
from plugins._workspace import Workspace
from plugins.api import StreamPart
from protocol.turns import MAX_DELTA_CHARS, TurnDelta, TurnFinished, TurnStarted
from tests.assistants._live import new_thread, post, stored_reply, watch_turn
from tests.plugins._fakes import FakeServices
from tests.plugins.conftest import PluginHostProcess
from tests.support.server import ParleyProcess
from tests.support.ws import chat_socket

MANIFEST = """\
id = "streamer"
version = "0.1.0"
api_version = 1
[server]
entry = "server.py"
"""

SERVER = """\
from plugins.api import Context, Message

async def on_message(ctx: Context, message: Message) -> None:
    async with ctx.stream() as out:
        for word in ("You", " said", ": ", message.text):
            await out.write(word)
"""


def test_each_stream_part_becomes_the_turn_record_browsers_follow() -> None:
    def part(kind: str, index: int = 0, text: str = "") -> StreamPart:
        return StreamPart(
            kind,  # type: ignore[arg-type]
            "m-1",
            "t-1",
            index,
            text,
            sender_id="plugin:streamer",
            reply_to="trigger-9",
        )

    at = "2026-12-02T00:00:00.000Z"
    assert stream_turn_record(part("start"), started_at=at) == TurnStarted(
        "t-1", "m-1", "plugin:streamer", "trigger-9", "m-1", at
    )
    assert stream_turn_record(part("delta", 3, "hi"), started_at=at) == TurnDelta(
        "t-1", "m-1", 3, "hi"
    )
    assert stream_turn_record(part("finish", 4, "whole"), started_at=at) == TurnFinished(
        "t-1", "m-1", "complete", 4, message_id="m-1"
    )
    aborted = stream_turn_record(part("abort", 2, "model gone"), started_at=at)
    assert aborted == TurnFinished("t-1", "m-1", "error", 2, reason="model gone")


async def test_a_long_write_is_split_into_bounded_numbered_deltas() -> None:
    services = FakeServices()
    ctx = HookContext(
        plugin_id="streamer",
        bot_user_id="plugin:streamer",
        version="0.1.0",
        commit="c",
        config={},
        log=logging.getLogger("test"),
        services=services,
        counts=Counter(),
        trigger="trigger-1",
        thread_id="t-1",
        max_text_bytes=3 * MAX_DELTA_CHARS,
    )
    text = "x" * (2 * MAX_DELTA_CHARS + 5)
    async with ctx.stream() as out:
        await out.write(text)
    deltas = [p for p in services.parts if p.kind == "delta"]
    assert [(p.index, len(p.text)) for p in deltas] == [
        (0, MAX_DELTA_CHARS),
        (1, MAX_DELTA_CHARS),
        (2, 5),
    ]
    assert services.parts[-1].kind == "finish"
    assert services.parts[-1].index == 3
    [stored] = services.posts
    assert stored.text == text
    assert stored.turn_id == stored.message_id == out.message_id


@pytest.mark.integration
async def test_a_streamed_reply_is_seen_growing_and_stored_once(
    chat_server: ParleyProcess, chat_settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    workspace = Workspace(tmp_path / "ws", Mode.DEV, tmp_path / "cache")
    await workspace.ensure()
    (workspace.path / "streamer").mkdir()
    (workspace.path / "streamer" / "plugin.toml").write_text(MANIFEST)
    (workspace.path / "streamer" / "server.py").write_text(SERVER)
    await workspace.commit_all("add streamer")

    host = PluginHostProcess(chat_settings, log_dir=tmp_path, workspace=workspace.path)
    host.start()
    try:
        token = tokens["alice"]
        async with httpx.AsyncClient(base_url=chat_server.http_url, timeout=10) as http:
            thread = await new_thread(http, token, ["plugin:streamer"])
            async with chat_socket(chat_server.ws_url, token) as alice:
                await alice.subscribe(thread)
                trigger = await post(http, token, thread, "hello")
                view = await watch_turn(alice, thread)
            assert view.started["assistant_id"] == "plugin:streamer"
            assert view.started["reply_to"] == trigger
            assert view.finished is not None
            assert view.finished["status"] == "complete", view.finished
            assert view.text == "You said: hello"
            assert view.deltas == 4
            stored = await stored_reply(http, token, thread, view.turn_id)
            assert stored["text"] == view.text
            assert stored["sender_id"] == "plugin:streamer"
            assert stored["message_id"] == view.finished["message_id"]
        host.stop()
    finally:
        host.kill()
