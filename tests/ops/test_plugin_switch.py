"""`parley ops plugin stop|start ID` against real processes: a gateway+core, a plugin host
(`--role plugins`) with its Git workspace, Kafka, FerretDB and the OIDC provider.

A stopped bot skips what is said meanwhile (never answers it later), its state shows in
`GET /api/plugins` and in the host's announcement, the host logs who asked; a start brings
the replies back. Only admins may ask; an unknown plugin is 404, a malformed id 422.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from config.settings import Settings
from tests.ops.conftest import ops_settings
from tests.plugins.conftest import PluginHostProcess
from tests.support.documented import assert_documented
from tests.support.server import REPO, ParleyProcess

pytestmark = pytest.mark.integration

MANIFEST = 'id = "echo"\nversion = "0.1.0"\napi_version = 1\n[server]\nentry = "server.py"\n'
SERVER = """\
from plugins.api import Context, Message

async def on_message(ctx: Context, message: Message) -> None:
    await ctx.reply("echo: " + message.text)
"""


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _workspace(root: Path) -> Path:
    root.mkdir()
    (root / "echo").mkdir()
    (root / "echo" / "plugin.toml").write_text(MANIFEST)
    (root / "echo" / "server.py").write_text(SERVER)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "echo")
    return root


def _ops(server: ParleyProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PARLEY_OPS_URL=server.http_url, PARLEY_TOKEN=token)
    return subprocess.run(
        [sys.executable, "-m", "parley.cli", "ops", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _echo_replies(http: httpx.Client, thread: str) -> list[str]:
    answer = http.get(f"/api/threads/{thread}/messages", params={"after_seq": 0})
    assert answer.status_code == 200, answer.text
    return [m["text"] for m in answer.json()["messages"] if m["sender_id"] == "plugin:echo"]


def _say_and_wait(http: httpx.Client, thread: str, text: str) -> None:
    posted = http.post("/api/messages", json={"thread_id": thread, "text": text})
    assert posted.status_code == 202, posted.text
    deadline = time.monotonic() + 30
    while f"echo: {text}" not in _echo_replies(http, thread):
        assert time.monotonic() < deadline, _echo_replies(http, thread)
        time.sleep(0.1)


def _listed(http: httpx.Client) -> dict[str, Any]:
    [echo] = [p for p in http.get("/api/plugins").json()["plugins"] if p["id"] == "echo"]
    return dict(echo)


def _announced(http: httpx.Client, admin: str, host_id: str) -> list[dict[str, Any]]:
    listing = http.get("/api/v1/ops/processes", headers={"Authorization": f"Bearer {admin}"})
    [host] = [p for p in listing.json()["processes"] if p["id"] == host_id]
    return list(host["plugins"])


def test_an_operator_stops_and_starts_a_plugin(
    settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    chat_settings = ops_settings(settings)
    chat = ParleyProcess(chat_settings, "all", log_dir=tmp_path).start()
    host = PluginHostProcess(chat_settings, log_dir=tmp_path, workspace=_workspace(tmp_path / "ws"))
    try:
        host.start()
        admin, alice = tokens["admin"], tokens["alice"]
        alice_http = httpx.Client(
            base_url=chat.http_url, headers={"Authorization": f"Bearer {alice}"}, timeout=30
        )
        with alice_http as http:
            created = http.post("/api/threads", json={"title": "t", "members": ["plugin:echo"]})
            assert created.status_code == 201, created.text
            thread = created.json()["thread_id"]
            _say_and_wait(http, thread, "before")

            refused = http.post("/api/v1/ops/plugins/echo/stop")
            assert refused.status_code == 403, refused.text
            stop_path = "/api/v1/ops/plugins/{plugin_id}/stop"
            assert assert_documented("POST", stop_path, refused)["code"] == "admin_required"

            stop = _ops(chat, admin, "plugin", "stop", "echo")
            assert stop.returncode == 0, stop.stderr
            host_id = host.settings.gateway_id
            assert stop.stdout == f"echo: stopped ({host_id}: stopped)\n"
            assert _listed(http)["state"] == "stopped"
            [announced] = _announced(http, admin, host_id)
            assert announced["id"] == "echo"
            assert announced["state"] == "stopped"
            assert announced["stopped_by"] == "admin"
            # Its HTTP routes answer the refusal that says so, naming the plugin.
            routed = http.get("/api/plugins/echo/anything")
            assert routed.status_code == 503, routed.text
            assert routed.headers["retry-after"] == "1"
            assert assert_documented("GET", "/api/plugins/{plugin_id}/{path}", routed) == {
                "code": "plugin_unavailable",
                "message": "plugin 'echo' is stopped",
                "field": "plugin_id",
                "retry_after_s": 1,
            }

            # Said while stopped: skipped for good (the record is acked, not kept for later).
            posted = http.post("/api/messages", json={"thread_id": thread, "text": "meanwhile"})
            assert posted.status_code == 202, posted.text

            start = _ops(chat, admin, "plugin", "start", "echo")
            assert start.returncode == 0, start.stderr
            assert start.stdout == f"echo: running ({host_id}: running)\n"
            # One partition per thread, handled in order: the reply to "after" comes after
            # "meanwhile" was handled, so its absence is final.
            _say_and_wait(http, thread, "after")
            assert _echo_replies(http, thread) == ["echo: before", "echo: after"]
            assert _listed(http)["state"] == "running"

            unknown = _ops(chat, admin, "plugin", "stop", "nosuch")
            assert unknown.returncode == 1
            assert unknown.stderr == (
                "parley ops: HTTP 404 not_found: no live plugin host runs plugin 'nosuch'\n"
            )
            bad = http.post(
                "/api/v1/ops/plugins/Bad_Id/stop", headers={"Authorization": f"Bearer {admin}"}
            )
            assert bad.status_code == 422, bad.text
            assert assert_documented("POST", stop_path, bad)["field"] == "plugin_id"
            missing = http.post(
                "/api/v1/ops/plugins/nosuch/start", headers={"Authorization": f"Bearer {admin}"}
            )
            assert missing.status_code == 404, missing.text
            start_path = "/api/v1/ops/plugins/{plugin_id}/start"
            assert assert_documented("POST", start_path, missing)["field"] == "plugin_id"

        # The host logged who asked, in the plugin's own log (what `parley plugin logs` shows).
        with MongoClient(chat_settings.mongo_uri, serverSelectionTimeoutMS=3000) as client:
            deadline = time.monotonic() + 10
            while True:
                [doc] = client.get_default_database()["plugin_status"].find({"id": "echo"})
                logs = "\n".join(doc["logs"])
                if "started by operator admin" in logs:
                    break
                assert time.monotonic() < deadline, logs
                time.sleep(0.2)
        assert "stopped by operator admin" in logs
    finally:
        host.stop()
        chat.stop()
