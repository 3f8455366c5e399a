"""Versions with a running host: commit mode ignores uncommitted edits, pin and unpin roll
a plugin back and forward, membership hooks fire, and two hosts answer each trigger once."""

from __future__ import annotations

import subprocess
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

MANIFEST = 'id = "echo"\nversion = "{version}"\napi_version = 1\n[server]\nentry = "server.py"\n'
SERVER = """\
from plugins.api import Context, MemberChange, Message, Thread

async def on_message(ctx: Context, message: Message) -> None:
    await ctx.reply("{tag}: " + message.text)

async def on_thread_created(ctx: Context, thread: Thread) -> None:
    await ctx.reply("hello " + ", ".join(m for m in thread.members if m != ctx.bot_user_id))

async def on_member_added(ctx: Context, change: MemberChange) -> None:
    await ctx.reply("welcome " + change.user_id)
"""


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _status(settings: Settings) -> list[dict[str, Any]]:
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=3000) as client:
        return list(client.get_default_database()["plugin_status"].find({"id": "echo"}))


async def _wait_version(settings: Settings, version: str, commit: str) -> None:
    with trio.fail_after(30):
        while True:  # polled: hosts publish their status once a second
            docs = await trio.to_thread.run_sync(_status, settings)
            if docs and all(d["version"] == version and d["commit"] == commit for d in docs):
                return
            await trio.sleep(0.2)


async def _bot_texts(http: httpx.AsyncClient, token: str, thread: str) -> list[str]:
    answer = await http.get(f"/api/threads/{thread}/messages", headers=_auth(token))
    assert answer.status_code == 200, answer.text
    return [m["text"] for m in answer.json()["messages"] if m["sender_id"] == "plugin:echo"]


async def _wait_bot(http: httpx.AsyncClient, token: str, thread: str, text: str) -> list[str]:
    with trio.fail_after(30):
        while True:  # polled: the REST history is what a client reads
            texts = await _bot_texts(http, token, thread)
            if text in texts:
                return texts
            await trio.sleep(0.1)


async def _post(http: httpx.AsyncClient, token: str, thread: str, text: str) -> None:
    answer = await http.post(
        "/api/messages", json={"thread_id": thread, "text": text}, headers=_auth(token)
    )
    assert answer.status_code == 202, answer.text


async def _new_thread(http: httpx.AsyncClient, token: str, members: list[str]) -> str:
    made = await http.post(
        "/api/threads", json={"title": "t", "members": members}, headers=_auth(token)
    )
    assert made.status_code == 201, made.text
    return str(made.json()["thread_id"])


def _git(workspace: Workspace, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(workspace.path), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def _echo_workspace(tmp_path: Path, mode: Mode) -> Workspace:
    workspace = Workspace(tmp_path / "ws", mode, tmp_path / "cache")
    await workspace.ensure()
    (workspace.path / "echo").mkdir()
    (workspace.path / "echo" / "plugin.toml").write_text(MANIFEST.format(version="0.1.0"))
    (workspace.path / "echo" / "server.py").write_text(SERVER.format(tag="v1"))
    await workspace.commit_all("add echo")
    return workspace


async def test_commit_mode_pin_unpin_and_membership_hooks(
    chat_server: ParleyProcess, chat_settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    ws = await _echo_workspace(tmp_path, Mode.COMMIT)
    first = _git(ws, "rev-parse", "HEAD")
    host = PluginHostProcess(chat_settings, log_dir=tmp_path, workspace=ws.path, mode="commit")
    host.start()
    try:
        alice = tokens["alice"]
        async with httpx.AsyncClient(base_url=chat_server.http_url, timeout=10) as http:
            thread = await _new_thread(http, alice, ["plugin:echo", "bob"])
            await _wait_bot(http, alice, thread, "hello alice, bob")
            await _post(http, alice, thread, "one")
            await _wait_bot(http, alice, thread, "v1: one")

            # An uncommitted edit of the code, and a committed new version number.
            (ws.path / "echo" / "server.py").write_text(SERVER.format(tag="v2"))
            (ws.path / "echo" / "plugin.toml").write_text(MANIFEST.format(version="0.2.0"))
            _git(ws, "commit", "-q", "-m", "0.2.0", "--", "echo/plugin.toml")
            await _wait_version(chat_settings, "0.2.0", _git(ws, "rev-parse", "HEAD")[:12])
            await _post(http, alice, thread, "two")
            await _wait_bot(http, alice, thread, "v1: two")  # the edit is not committed

            _git(ws, "commit", "-q", "-am", "v2")
            head = _git(ws, "rev-parse", "HEAD")
            await _wait_version(chat_settings, "0.2.0", head[:12])
            await _post(http, alice, thread, "three")
            await _wait_bot(http, alice, thread, "v2: three")

            pinned = await trio.run_process(
                [".venv/bin/parley", "plugin", "pin", "echo", first[:10]],
                env={"PARLEY_PLUGIN_WORKSPACE": str(ws.path), "PATH": "/usr/bin:/bin"},
                capture_stdout=True, capture_stderr=True, check=False,
                cwd=Path(__file__).parents[2],
            )  # fmt: skip
            assert pinned.returncode == 0, pinned.stderr
            await _wait_version(chat_settings, "0.1.0", first[:12])
            await _post(http, alice, thread, "four")
            await _wait_bot(http, alice, thread, "v1: four")

            assert await ws.unpin("echo") is True
            await _wait_version(chat_settings, "0.2.0", head[:12])
            await _post(http, alice, thread, "five")
            await _wait_bot(http, alice, thread, "v2: five")

            added = await http.post(
                f"/api/threads/{thread}/members", json={"user_id": "carol"}, headers=_auth(alice)
            )
            assert added.status_code == 200, added.text
            texts = await _wait_bot(http, alice, thread, "welcome carol")
            assert texts == [
                "hello alice, bob", "v1: one", "v1: two", "v2: three", "v1: four", "v2: five",
                "welcome carol",
            ]  # fmt: skip
    finally:
        host.stop()


async def test_two_hosts_answer_each_trigger_once(
    chat_server: ParleyProcess, chat_settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    ws = await _echo_workspace(tmp_path, Mode.DEV)
    hosts = [
        PluginHostProcess(chat_settings, log_dir=tmp_path / name, workspace=ws.path)
        for name in ("a", "b")
    ]
    for host in hosts:
        host.log_path.parent.mkdir()
        host.start()
    try:
        alice = tokens["alice"]
        async with httpx.AsyncClient(base_url=chat_server.http_url, timeout=10) as http:
            threads = [await _new_thread(http, alice, ["plugin:echo"]) for _ in range(6)]
            for thread in threads:
                await _wait_bot(http, alice, thread, "hello alice")
                for n in range(3):
                    await _post(http, alice, thread, f"m{n}")
            for thread in threads:
                await _wait_bot(http, alice, thread, "v1: m2")
            (ws.path / "echo" / "server.py").write_text(SERVER.format(tag="v2"))
            with trio.fail_after(30):
                while True:  # both hosts report the edited version
                    docs = await trio.to_thread.run_sync(_status, chat_settings)
                    if len(docs) == 2 and all(d["commit"].endswith("+dirty") for d in docs):
                        break
                    await trio.sleep(0.2)
            for thread in threads:
                await _post(http, alice, thread, "after")
            for thread in threads:
                texts = await _wait_bot(http, alice, thread, "v2: after")
                assert texts == ["hello alice", "v1: m0", "v1: m1", "v1: m2", "v2: after"]
    finally:
        for host in hosts:
            host.stop()
