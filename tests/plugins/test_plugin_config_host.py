"""An operator's `[config]` file through a real plugin host (`--role plugins`), gateway+core,
Kafka, FerretDB and Git: the file's value is what the plugin reads; a changed file takes
effect without a restart; a bad file is refused naming the file and the field while the
running version keeps its config."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from config.settings import Settings
from tests.plugins.conftest import PluginHostProcess
from tests.support.server import ParleyProcess

pytestmark = pytest.mark.integration

MANIFEST = """\
id = "greet"
version = "0.1.0"
api_version = 1
[server]
entry = "server.py"
[config.greeting]
type = "string"
default = "hello"
"""
SERVER = """\
from plugins.api import Context, Message

async def on_message(ctx: Context, message: Message) -> None:
    await ctx.reply(ctx.config["greeting"] + ": " + message.text)
"""


def _workspace(root: Path) -> Path:
    (root / "greet").mkdir(parents=True)
    (root / "greet" / "plugin.toml").write_text(MANIFEST)
    (root / "greet" / "server.py").write_text(SERVER)
    who = ("-c", "user.name=t", "-c", "user.email=t@example.org")
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), (*who, "commit", "-qm", "greet")):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def _say(http: httpx.Client, thread: str, text: str) -> str:
    posted = http.post("/api/messages", json={"thread_id": thread, "text": text})
    assert posted.status_code == 202, posted.text
    deadline = time.monotonic() + 30
    while True:
        messages = http.get(f"/api/threads/{thread}/messages", params={"after_seq": 0})
        for m in messages.json()["messages"]:
            if m["sender_id"] == "plugin:greet" and m["text"].endswith(f": {text}"):
                return str(m["text"])
        assert time.monotonic() < deadline, f"no reply to {text!r}"
        time.sleep(0.1)


def _status(settings: Settings) -> dict[str, Any]:
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=3000) as client:
        [doc] = client.get_default_database()["plugin_status"].find({"id": "greet"})
        return dict(doc)


def test_an_operators_config_file_is_applied_checked_and_reloaded(
    chat_server: ParleyProcess, chat_settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    config_dir = tmp_path / "plugin-config"
    config_dir.mkdir()
    config = config_dir / "greet.toml"
    config.write_text('greeting = "ahoy"\n')
    host = PluginHostProcess(
        chat_settings,
        log_dir=tmp_path,
        workspace=_workspace(tmp_path / "ws"),
        env={"PARLEY_PLUGIN_CONFIG_DIR": str(config_dir)},
    )
    host.start()
    try:
        headers = {"Authorization": f"Bearer {tokens['alice']}"}
        with httpx.Client(base_url=chat_server.http_url, headers=headers, timeout=30) as http:
            created = http.post("/api/threads", json={"title": "t", "members": ["plugin:greet"]})
            assert created.status_code == 201, created.text
            thread = created.json()["thread_id"]
            assert _say(http, thread, "one") == "ahoy: one"

            config.write_text('greeting = "howdy"\n')
            n = 0
            while True:  # the change is picked up at the host's next look, no restart
                n += 1
                reply = _say(http, thread, f"two {n}")
                if reply == f"howdy: two {n}":
                    break
                assert reply == f"ahoy: two {n}"
                assert n < 100

            config.write_text("greeting = 3\n")
            deadline = time.monotonic() + 30
            while not _status(chat_settings)["last_error"]:
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert _status(chat_settings)["last_error"] == (
                f"{config}: field 'greeting': must be string, got an integer "
                "(the schema is [config] of greet/plugin.toml)"
            )
            assert _say(http, thread, "three") == "howdy: three"
    finally:
        host.stop()
