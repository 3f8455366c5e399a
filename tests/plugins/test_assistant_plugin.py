"""An assistant is a plugin: its `[assistant]` table is validated, the plugin host publishes
it (collection `assistants`), and the core answers in threads it is a member of.

The bundled `local-assistant` (committed into every new workspace) is what `make run` users
add to a thread: here the real plugin host loads it from a fresh workspace and a real core
answers with the real local model.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from pymongo import MongoClient

from config.settings import Settings
from infra import LlmServer
from plugins._errors import ManifestError
from plugins._examples import EXAMPLES
from plugins._manifest import parse_manifest
from tests.assistants._live import new_thread, post, stored_messages, stored_reply, watch_turn
from tests.plugins.conftest import PluginHostProcess
from tests.support.server import REPO, ParleyProcess, isolated_settings
from tests.support.ws import chat_socket

_BASE = 'id = "a"\nversion = "1.0.0"\napi_version = 1\n[server]\nentry = "server.py"\n'


def test_the_bundled_assistant_declares_a_valid_assistant() -> None:
    manifest = parse_manifest(EXAMPLES["local-assistant"]["plugin.toml"], "p/plugin.toml")
    assert manifest.bot_user_id == "plugin:local-assistant"
    assert manifest.assistant is not None
    assert manifest.assistant["max_reply_tokens"] == 256


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ("[assistant]\nmax_reply_tokens = 0\n", "assistant.max_reply_tokens"),
        ("[assistant]\nsystem_prompt = 3\n", "assistant.system_prompt"),
        ("[assistant]\nsystem_promt = 'x'\n", "assistant.system_promt"),
        ("assistant = 1\n", "assistant"),
    ],
)
def test_a_bad_assistant_table_is_refused_naming_the_field(table: str, field: str) -> None:
    text = (
        _BASE.replace("[server]", table + "[server]")
        if table.startswith("assistant =")
        else _BASE + table
    )
    with pytest.raises(ManifestError, match=r"^p/plugin\.toml: field .+$") as caught:
        parse_manifest(text, "p/plugin.toml")
    assert caught.value.field == field


@pytest.fixture
def chat(settings: Settings, llm_server: LlmServer) -> Settings:
    return isolated_settings(settings, llm_base_url=llm_server.base_url)


@pytest.fixture
def server(chat: Settings, tmp_path: Path) -> Iterator[ParleyProcess]:
    proc = ParleyProcess(chat, "all", log_dir=tmp_path).start()
    try:
        yield proc
    finally:
        proc.stop()


def _assistants(settings: Settings) -> list[dict[str, Any]]:
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=3000) as client:
        return list(client.get_default_database()["assistants"].find({}))


@pytest.mark.integration
async def test_the_bundled_assistant_answers_in_a_thread(
    server: ParleyProcess, chat: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    host = PluginHostProcess(chat, log_dir=tmp_path, workspace=tmp_path / "workspace")
    host.start()
    try:
        with trio.fail_after(30):
            # Polled: another process (the host) writes it.
            while not _assistants(chat):  # noqa: ASYNC110
                await trio.sleep(0.2)
        [published] = _assistants(chat)
        assert published["_id"] == "plugin:local-assistant"
        assert published["config"]["max_reply_tokens"] == 256
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
            # The browser's member picker offers it as an assistant.
            with trio.fail_after(30):
                while True:  # the host's status document comes once a second
                    listed = await http.get(
                        "/api/plugins", headers={"Authorization": f"Bearer {tokens['alice']}"}
                    )
                    found = [p for p in listed.json()["plugins"] if p["id"] == "local-assistant"]
                    if found:
                        break
                    await trio.sleep(0.2)
            assert found[0]["kind"] == "assistant"
            assert found[0]["bot_user_id"] == "plugin:local-assistant"
            thread = await new_thread(http, tokens["alice"], ["plugin:local-assistant"])
            async with chat_socket(server.ws_url, tokens["alice"]) as alice:
                await alice.subscribe(thread)
                await post(http, tokens["alice"], thread, "Hello! Who are you?")
                view = await watch_turn(alice, thread)
                assert view.finished is not None
                assert view.finished["status"] == "complete", view.finished
                assert view.started["assistant_id"] == "plugin:local-assistant"
                stored = await stored_reply(http, tokens["alice"], thread, view.turn_id)
                assert stored["text"] == view.text
        host.stop()
    finally:
        host.kill()


@pytest.mark.integration
async def test_an_assistant_made_from_the_template_answers_in_a_thread(
    server: ParleyProcess, chat: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    workspace = tmp_path / "workspace"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PARLEY_PLUGIN_WORKSPACE=str(workspace), PARLEY_PLUGIN_CACHE=str(tmp_path / "c"))
    made = await trio.run_process(
        [sys.executable, "-m", "parley.cli", "plugin", "new", "helper", "--template", "assistant"],
        cwd=REPO,
        env=env,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    host = PluginHostProcess(chat, log_dir=tmp_path, workspace=workspace)
    host.start()
    try:
        with trio.fail_after(30):
            # Polled: another process (the host) writes it.
            while "plugin:helper" not in {d["_id"] for d in _assistants(chat)}:  # noqa: ASYNC110
                await trio.sleep(0.2)
        [published] = [d for d in _assistants(chat) if d["_id"] == "plugin:helper"]
        assert published["config"]["system_prompt"].startswith("You are helper, ")
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
            thread = await new_thread(http, tokens["alice"], ["bob", "plugin:helper"])
            async with chat_socket(server.ws_url, tokens["bob"]) as bob:
                await bob.subscribe(thread)
                await post(http, tokens["alice"], thread, "Hello! Who are you?")
                view = await watch_turn(bob, thread)
                assert view.finished is not None
                assert view.finished["status"] == "complete", view.finished
                assert view.started["assistant_id"] == "plugin:helper"
                stored = await stored_reply(http, tokens["alice"], thread, view.turn_id)
                assert (stored["text"], stored["sender_id"]) == (view.text, "plugin:helper")
                # Answered once: by the core's turn, no hook replies beside it.
                await trio.sleep(1)
                replies = [
                    m
                    for m in await stored_messages(http, tokens["alice"], thread)
                    if m["sender_id"] == "plugin:helper"
                ]
                assert [m["message_id"] for m in replies] == [stored["message_id"]]
        host.stop()
    finally:
        host.kill()
