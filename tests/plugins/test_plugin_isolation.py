"""`--role all` with the plugin host as a supervised child: a busy-looping plugin stalls only
the child; chat goes on; the parent's probe kills and respawns the child; the trigger that
looped is not run again, the plugin ends `failed`, and the other bot answers again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from pymongo import MongoClient

from config.settings import Settings
from plugins._settings import Mode
from plugins._workspace import Workspace
from tests.support.server import REPO, ParleyProcess, settings_env

pytestmark = pytest.mark.integration

ECHO = (
    'id = "echo"\nversion = "0.1.0"\napi_version = 1\n[server]\nentry = "server.py"\n',
    'async def on_message(ctx, message):\n    await ctx.reply("echo: " + message.text)\n',
)
SPIN = (
    'id = "spin"\nversion = "0.1.0"\napi_version = 1\n[server]\nentry = "server.py"\n'
    "[runtime]\nmax_failures = 1\nrestarts = 0\n",
    "async def on_message(ctx, message):\n    if message.text == 'spin':\n        while True:\n"
    "            pass\n    await ctx.reply('spun')\n",
)


class AllWithChild(ParleyProcess):
    def __init__(self, settings: Settings, *, log_dir: Path, workspace: Path) -> None:
        super().__init__(settings, "all", log_dir=log_dir)
        self.workspace = workspace

    def start(self, timeout_s: float = 60.0) -> ParleyProcess:
        env = settings_env(self.settings)
        env.update(
            PARLEY_PLUGIN_HOST="child",
            PARLEY_PLUGIN_UNRESPONSIVE_S="3",
            PARLEY_PLUGIN_WORKSPACE=str(self.workspace),
            PARLEY_PLUGIN_CACHE=str(self.workspace.parent / "cache"),
        )
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "parley.cli", "serve", "--role", "all"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready(timeout_s)
        return self


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _statuses(settings: Settings) -> dict[str, dict[str, Any]]:
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=3000) as client:
        docs = client.get_default_database()["plugin_status"].find({})
        return {f"{d['id']}@{d['host']}": d for d in docs}


async def _wait_status(settings: Settings, check: Any) -> dict[str, dict[str, Any]]:
    with trio.fail_after(60):
        while True:  # polled: hosts publish their status to the store once a second
            found = await trio.to_thread.run_sync(_statuses, settings)
            if check(found):
                return found
            await trio.sleep(0.3)


async def _post(http: httpx.AsyncClient, token: str, thread: str, text: str) -> None:
    answer = await http.post(
        "/api/messages", json={"thread_id": thread, "text": text}, headers=_auth(token)
    )
    assert answer.status_code == 202, answer.text


async def _texts(http: httpx.AsyncClient, token: str, thread: str) -> list[tuple[str, str]]:
    answer = await http.get(f"/api/threads/{thread}/messages", headers=_auth(token))
    assert answer.status_code == 200, answer.text
    return [(m["sender_id"], m["text"]) for m in answer.json()["messages"]]


async def _wait_texts(
    http: httpx.AsyncClient, token: str, thread: str, want: tuple[str, str]
) -> list[tuple[str, str]]:
    with trio.fail_after(60):
        while True:  # polled: the REST history is what a client would read
            texts = await _texts(http, token, thread)
            if want in texts:
                return texts
            await trio.sleep(0.1)


async def _new_thread(http: httpx.AsyncClient, token: str, members: list[str]) -> str:
    made = await http.post(
        "/api/threads", json={"title": "t", "members": members}, headers=_auth(token)
    )
    assert made.status_code == 201, made.text
    return str(made.json()["thread_id"])


async def test_a_busy_looping_plugin_never_stops_the_chat(
    chat_settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    workspace = Workspace(tmp_path / "ws", Mode.DEV, tmp_path / "cache")
    await workspace.ensure()
    for name, (toml, code) in {"echo": ECHO, "spin": SPIN}.items():
        (workspace.path / name).mkdir()
        (workspace.path / name / "plugin.toml").write_text(toml)
        (workspace.path / name / "server.py").write_text(code)
    await workspace.commit_all("echo and spin")
    server = AllWithChild(chat_settings, log_dir=tmp_path, workspace=workspace.path).start()
    try:
        await _wait_status(
            chat_settings, lambda s: any(d["id"] == "echo" and d["listening"] for d in s.values())
        )
        alice, bob = tokens["alice"], tokens["bob"]
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
            bots = await _new_thread(http, alice, ["plugin:echo"])
            spin = await _new_thread(http, alice, ["plugin:spin"])
            people = await _new_thread(http, alice, ["bob"])
            await _post(http, alice, bots, "hello")
            await _wait_texts(http, alice, bots, ("plugin:echo", "echo: hello"))

            await _post(http, alice, spin, "spin")  # the child's event loop is now held
            for n in range(5):
                await _post(http, bob, people, f"still chatting {n}")
                await _wait_texts(http, alice, people, ("bob", f"still chatting {n}"))

            # The probe kills the stuck child; the new one skips the looping trigger.
            found = await _wait_status(
                chat_settings,
                lambda s: any(d["id"] == "spin" and d["state"] == "failed" for d in s.values()),
            )
            spun = next(d for d in found.values() if d["id"] == "spin" and d["state"] == "failed")
            assert "was running when its host died" in spun["last_error"]
            await _post(http, alice, bots, "back")
            texts = await _wait_texts(http, alice, bots, ("plugin:echo", "echo: back"))
            assert texts.count(("plugin:echo", "echo: hello")) == 1
            assert ("plugin:spin", "spun") not in await _texts(http, alice, spin)
    finally:
        server.stop()
