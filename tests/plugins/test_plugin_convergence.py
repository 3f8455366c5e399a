"""Two plugin hosts with SEPARATE workspaces (clones of one origin) converge on a commit
through Kafka (`parley.plugin-versions`): real Git, Kafka, FerretDB and processes.

A commit lands in host A's clone (and is pushed to origin, as an author would): A announces
the plugin's new version, host B, whose own workspace never moves, fetches the commit from
its origin and runs it too. Every trigger is answered once, by the new code.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from config.settings import Settings
from tests.plugins.conftest import PluginHostProcess
from tests.support.server import ParleyProcess, isolated_settings

pytestmark = pytest.mark.integration

MANIFEST = 'id = "echo"\nversion = "{version}"\napi_version = 1\n[server]\nentry = "server.py"\n'
SERVER = """\
from plugins.api import Context, Message

async def on_message(ctx: Context, message: Message) -> None:
    await ctx.reply("{tag}: " + message.text)
"""
_AUTHOR = ("-c", "user.name=author", "-c", "user.email=author@example.org")


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _write_echo(root: Path, version: str, tag: str) -> None:
    (root / "echo").mkdir(exist_ok=True)
    (root / "echo" / "plugin.toml").write_text(MANIFEST.format(version=version))
    (root / "echo" / "server.py").write_text(SERVER.format(tag=tag))


def _origin_and_clones(tmp_path: Path) -> tuple[Path, Path]:
    seed = tmp_path / "seed"
    seed.mkdir()
    _write_echo(seed, "1.0.0", "v1")
    _git(seed, "init", "-q", "-b", "main")
    _git(seed, "add", "-A")
    _git(seed, *_AUTHOR, "commit", "-qm", "echo 1.0.0")
    _git(tmp_path, "clone", "-q", "--bare", str(seed), "origin.git")
    for name in ("a", "b"):
        _git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), name)
    return tmp_path / "a", tmp_path / "b"


def _replies(http: httpx.Client, thread: str, text: str) -> list[str]:
    answer = http.get(f"/api/threads/{thread}/messages", params={"after_seq": 0})
    assert answer.status_code == 200, answer.text
    return [
        m["text"]
        for m in answer.json()["messages"]
        if m["sender_id"] == "plugin:echo" and m["text"].endswith(f": {text}")
    ]


def _say(http: httpx.Client, thread: str, text: str) -> list[str]:
    posted = http.post("/api/messages", json={"thread_id": thread, "text": text})
    assert posted.status_code == 202, posted.text
    deadline = time.monotonic() + 30
    while not (replies := _replies(http, thread, text)):
        assert time.monotonic() < deadline, f"no reply to {text!r}"
        time.sleep(0.1)
    return replies


def _statuses(settings: Settings) -> dict[str, dict[str, Any]]:
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=3000) as client:
        docs = client.get_default_database()["plugin_status"].find({"id": "echo"})
        return {str(d["host"]): d for d in docs}


def test_two_hosts_with_their_own_clones_converge_on_a_commit(
    settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    chat_settings = isolated_settings(settings)
    clone_a, clone_b = _origin_and_clones(tmp_path)
    run = uuid.uuid4().hex[:8]
    # This test's own versions topic and group: records of other tests must not count.
    env = {
        "PARLEY_PLUGIN_VERSIONS_TOPIC": f"test.plugin-versions.{run}",
        "PARLEY_PLUGIN_GROUP": f"plugins-{run}",
        "PARLEY_PLUGIN_POLL_S": "0.3",
    }
    chat = ParleyProcess(chat_settings, "all", log_dir=tmp_path).start()
    hosts = [
        PluginHostProcess(
            chat_settings, log_dir=tmp_path, workspace=clone, mode="commit", name=name, env=env
        )
        for name, clone in (("plugins-a", clone_a), ("plugins-b", clone_b))
    ]
    try:
        for host in hosts:
            host.start()
        host_ids = {host.settings.gateway_id for host in hosts}
        old_b = _git(clone_b, "rev-parse", "HEAD")
        headers = {"Authorization": f"Bearer {tokens['alice']}"}
        with httpx.Client(base_url=chat.http_url, headers=headers, timeout=30) as http:
            created = http.post("/api/threads", json={"title": "t", "members": ["plugin:echo"]})
            assert created.status_code == 201, created.text
            thread = created.json()["thread_id"]
            assert _say(http, thread, "one") == ["v1: one"]

            _write_echo(clone_a, "1.1.0", "v2")
            _git(clone_a, *_AUTHOR, "commit", "-qam", "echo 1.1.0")
            new = _git(clone_a, "rev-parse", "HEAD")
            _git(clone_a, "push", "-q", "origin", "main")

            deadline = time.monotonic() + 30
            while True:
                seen = _statuses(chat_settings)
                running = {h: (d["commit"], d["version"], d["state"]) for h, d in seen.items()}
                if all(running.get(h) == (new[:12], "1.1.0", "running") for h in host_ids):
                    break
                assert time.monotonic() < deadline, running
                time.sleep(0.2)
            # B got there through Kafka and its origin; its own workspace never moved.
            assert _git(clone_b, "rev-parse", "HEAD") == old_b
            assert _git(clone_b, "cat-file", "-t", new) == "commit"

            texts = [f"two-{n}" for n in range(5)]
            for text in texts:
                assert _say(http, thread, text) == [f"v2: {text}"]
            # Each trigger answered once: nothing more arrived for the earlier ones meanwhile.
            assert [_replies(http, thread, t) for t in ["one", *texts]] == [
                ["v1: one"],
                *[[f"v2: {t}"] for t in texts],
            ]
    finally:
        for host in hosts:
            host.stop()
        chat.stop()
