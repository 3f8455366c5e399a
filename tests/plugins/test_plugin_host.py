"""The plugin host end to end: real Kafka, FerretDB, OIDC provider, Git and processes.

A gateway+core process and a separate plugin host (`--role plugins`). A thread with the
bot as a member: a user's message gets the bot's reply through chat.commands; a saved edit
changes the next reply without a restart; a syntax error is refused while the old version
keeps replying, and the error is in the status the CLI reads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from pymongo import MongoClient

from config.settings import Settings
from plugins._settings import Mode
from plugins._workspace import Workspace
from tests.plugins.conftest import PluginHostProcess
from tests.support.server import ParleyProcess

pytestmark = pytest.mark.integration

MANIFEST = """\
id = "echo"
version = "0.1.0"
api_version = 1
[server]
entry = "server.py"
[browser]
entry = "ui.js"
"""

SERVER = """\
from plugins.api import Context, Message

async def on_message(ctx: Context, message: Message) -> None:
    # State in the real store, with a key and a value FerretDB would refuse as a document.
    seen = await ctx.state.get("seen.$count", 0)
    await ctx.state.set("seen.$count", seen + 1)
    await ctx.state.set("nested", {{"a.b": [[1, 2]]}})
    assert await ctx.state.get("nested") == {{"a.b": [[1, 2]]}}
    await ctx.reply("{tag}: " + message.text)
"""

UI = "export function mount(element) { element.textContent = 'echo'; }\n"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _replies(
    http: httpx.AsyncClient, token: str, thread: str, after_seq: int
) -> list[dict[str, Any]]:
    answer = await http.get(
        f"/api/threads/{thread}/messages", params={"after_seq": after_seq}, headers=_auth(token)
    )
    assert answer.status_code == 200, answer.text
    return [m for m in answer.json()["messages"] if m["sender_id"] == "plugin:echo"]


async def _say(http: httpx.AsyncClient, token: str, thread: str, text: str) -> str:
    """Post `text` and return the bot's reply to it (waits for it)."""
    posted = await http.post(
        "/api/messages", json={"thread_id": thread, "text": text}, headers=_auth(token)
    )
    assert posted.status_code == 202, posted.text
    with trio.fail_after(30):
        while True:
            for reply in await _replies(http, token, thread, 0):
                if reply["text"].endswith(": " + text):
                    return str(reply["text"])
            await trio.sleep(0.1)


def _status(settings: Settings) -> dict[str, Any]:
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=3000) as client:
        docs = list(client.get_default_database()["plugin_status"].find({"id": "echo"}))
    assert len(docs) == 1, docs
    return docs[0]


async def test_a_bot_replies_and_a_saved_edit_changes_the_next_reply(
    chat_server: ParleyProcess, chat_settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    workspace = Workspace(tmp_path / "ws", Mode.DEV, tmp_path / "cache")
    await workspace.ensure()
    (workspace.path / "echo").mkdir()
    (workspace.path / "echo" / "plugin.toml").write_text(MANIFEST)
    server = workspace.path / "echo" / "server.py"
    server.write_text(SERVER.format(tag="v1"))
    (workspace.path / "echo" / "ui.js").write_text(UI)
    await workspace.commit_all("add echo")

    host = PluginHostProcess(chat_settings, log_dir=tmp_path, workspace=workspace.path)
    host.start()
    try:
        token = tokens["alice"]
        async with httpx.AsyncClient(base_url=chat_server.http_url, timeout=10) as http:
            created = await http.post(
                "/api/threads",
                json={"title": "bots", "members": ["plugin:echo"]},
                headers=_auth(token),
            )
            assert created.status_code == 201, created.text
            thread = created.json()["thread_id"]

            assert await _say(http, token, thread, "hello") == "v1: hello"

            # The browser module, from an immutable versioned URL the plugin list names.
            listed = await http.get("/api/plugins", headers=_auth(token))
            [echo] = [p for p in listed.json()["plugins"] if p["id"] == "echo"]
            assert re.fullmatch(r"/plugins/echo/[0-9a-f]{12}/ui\.js", echo["ui_url"])
            module = await http.get(echo["ui_url"])
            assert module.status_code == 200
            assert module.text == UI
            assert module.headers["content-type"].startswith("text/javascript")
            assert module.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert (await http.get("/plugins/echo/000000000000/ui.js")).status_code == 404
            # The shell's own demo module is still served beside them.
            assert (await http.get("/plugins/demo-panel.js")).status_code == 200

            server.write_text(SERVER.format(tag="v2"))
            started = trio.current_time()
            n = 0
            while True:  # the next reply after the host swapped comes from the new code
                n += 1
                reply = await _say(http, token, thread, f"ping {n}")
                if reply.startswith("v2: "):
                    break
                assert reply == f"v1: ping {n}"
            print(f"new code answered {trio.current_time() - started:.2f} s after the save")

            server.write_text("def broken(:\n")
            with trio.fail_after(30):
                while True:  # polled: the status lives in the store, written once a second
                    status = await trio.to_thread.run_sync(_status, chat_settings)
                    if "SyntaxError" in status["last_error"]:
                        break
                    await trio.sleep(0.2)
            assert status["state"] == "running"
            assert status["last_error"] == (
                "echo: server.py: SyntaxError: invalid syntax (server.py, line 1)"
            )
            listed = await http.get("/api/plugins", headers=_auth(token))
            assert listed.status_code == 200, listed.text
            assert listed.headers["cache-control"] == "no-store"
            [echo] = [p for p in listed.json()["plugins"] if p["id"] == "echo"]
            assert echo["state"] == "running"
            assert echo["bot_user_id"] == "plugin:echo"
            assert echo["kind"] == "bot"
            assert echo["last_error"] == status["last_error"]
            assert echo["commit"].endswith("+dirty")
            assert (await http.get("/api/plugins")).status_code == 401
            # Not asserted (timings vary with the machine): hook time, trigger to reply acked.
            print(f"echo: {echo['hook_calls']} hook calls, p50 {echo['p50_ms']} ms, "
                  f"p99 {echo['p99_ms']} ms")  # fmt: skip
            assert await _say(http, token, thread, "still there") == "v2: still there"
            # One reply per message: nothing was answered twice.
            replies = await _replies(http, token, thread, 0)
            assert len(replies) == len({r["text"] for r in replies}) == n + 2
    finally:
        host.stop()
