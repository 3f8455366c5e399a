"""The pytest plugin behind `parley plugin test NAME`: a `plugin` fixture to talk to.

    async def test_roll(plugin) -> None:
        assert (await plugin.say("/roll 1d1")) == ["1d1: 1 = 1"]

`plugin` loads the plugin under test (PARLEY_PLUGIN_UNDER_TEST, its folder) exactly as the
host does (manifest checked, fresh module, self-check), and runs its hooks with the real
hook context (reply ids, text limits, state and membership checks). The thread, the state
and the scheduled posts are kept in memory, so a plugin's tests run without Kafka or a store.

An assistant (an `[assistant]` table in plugin.toml) is answered by Parley's core with the
model, not by a hook: `plugin.assistant` is its config as the host validates it (for the
model's context, PARLEY_LLM_CONTEXT_TOKENS), and `await plugin.ask(text)` posts `text`, runs
the hooks as `say` does, and returns the prompt the core's turn would send the model for
the thread so far (no model needed):

    async def test_the_prompt(plugin) -> None:
        prompt = await plugin.ask("What can you do?")
        assert prompt.messages[0].content == plugin.assistant.system_prompt
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters import read_text
from assistants import AssistantConfig, Prompt
from config.settings import load_settings
from protocol.events import PostMessage, utc_now_iso

from ._context import HookContext
from ._loader import LoadedPlugin, PluginSource, load_plugin, unload
from ._manifest import parse_manifest, validate_config
from .api import JSONValue, Message, StreamPart

__all__ = ["PluginUnderTest", "plugin"]


class _Thread:
    """PluginServices of one in-memory thread: what the bot posts lands in its history."""

    def __init__(self, thread_id: str, members: set[str]) -> None:
        self.thread_id = thread_id
        self.members = members
        self.messages: list[dict[str, Any]] = []
        self.state: dict[str, JSONValue] = {}
        self.scheduled: list[tuple[float, PostMessage]] = []
        self.parts: list[StreamPart] = []

    def add(self, message_id: str, sender: str, text: str) -> dict[str, Any]:
        doc = {
            "thread_id": self.thread_id,
            "seq": len(self.messages) + 1,
            "message_id": message_id,
            "sender_id": sender,
            "text": text,
            "created_at": utc_now_iso(),
        }
        if all(m["message_id"] != message_id for m in self.messages):
            self.messages.append(doc)
        return doc

    async def post(self, post: PostMessage) -> None:
        self.add(post.message_id, post.sender_id, post.text)

    async def is_member(self, thread_id: str, user_id: str) -> bool:
        return thread_id == self.thread_id and user_id in self.members

    async def history(self, thread_id: str, limit: int) -> list[dict[str, Any]]:
        return self.messages[-limit:]

    async def state_get(self, plugin_id: str, key: str) -> tuple[bool, JSONValue]:
        return (key in self.state), self.state.get(key)

    async def state_set(self, plugin_id: str, key: str, value: JSONValue) -> None:
        self.state[key] = value

    async def state_delete(self, plugin_id: str, key: str) -> None:
        self.state.pop(key, None)

    async def state_keys(self, plugin_id: str, prefix: str) -> list[str]:
        return sorted(k for k in self.state if k.startswith(prefix))

    async def schedule(self, plugin_id: str, delay_s: float, post: PostMessage) -> None:
        self.scheduled.append((delay_s, post))

    async def stream_part(self, part: StreamPart) -> None:
        self.parts.append(part)


class PluginUnderTest:
    def __init__(self, loaded: LoadedPlugin, config: dict[str, Any]) -> None:
        self.loaded = loaded
        self.config = config
        self.bot_user_id = loaded.manifest.bot_user_id
        self.thread = _Thread("t_test", {"alice", "bob", self.bot_user_id})
        self.counts: Counter[str] = Counter()
        self.context_tokens = load_settings().llm_context_tokens
        table = loaded.manifest.assistant
        #: the `[assistant]` table as the host validates it; None: not an assistant
        self.assistant: AssistantConfig | None = (
            None
            if table is None
            else AssistantConfig.load(table, context_tokens=self.context_tokens)
        )

    async def call(self, hook: str, *args: Any, trigger: str | None = None) -> None:
        fn = self.loaded.hooks.get(hook)
        if fn is None:
            return
        import logging

        manifest = self.loaded.manifest
        ctx = HookContext(
            plugin_id=manifest.id,
            bot_user_id=self.bot_user_id,
            version=manifest.version,
            commit=self.loaded.source.commit,
            config=self.config,
            log=logging.getLogger(f"parley.plugin.{manifest.id}"),
            services=self.thread,
            counts=self.counts,
            trigger=trigger or uuid.uuid4().hex,
            thread_id=self.thread.thread_id,
        )
        await fn(ctx, *args)

    async def say(self, text: str, sender: str = "alice") -> list[str]:
        """Post `text` as `sender`, run on_message, return the bot's replies' texts."""
        before = len(self.thread.messages)
        message_id = str(uuid.uuid4())
        doc = self.thread.add(message_id, sender, text)
        message = Message(**doc)
        await self.call("on_message", message, trigger=message_id)
        return [
            m["text"]
            for m in self.thread.messages[before + 1 :]
            if m["sender_id"] == self.bot_user_id
        ]

    async def ask(self, text: str, sender: str = "alice") -> Prompt:
        """Post `text` as `sender` (hooks run as in `say`) and return the prompt the core's
        turn would send the model for the thread so far (the plugin must be an assistant)."""
        if self.assistant is None:
            raise AssertionError(
                f"{self.loaded.manifest.id} is not an assistant: plugin.toml has no [assistant]"
            )
        await self.say(text, sender)
        history = [(str(m["sender_id"]), str(m["text"])) for m in self.thread.messages]
        return self.assistant.prompt(
            history, assistant_id=self.bot_user_id, context_tokens=self.context_tokens
        )


@pytest.fixture
async def plugin() -> AsyncIterator[PluginUnderTest]:
    folder = Path(os.environ["PARLEY_PLUGIN_UNDER_TEST"])
    manifest = parse_manifest(await read_text(folder / "plugin.toml"), str(folder / "plugin.toml"))
    entry = await read_text(folder / manifest.server_entry)
    loaded = load_plugin(PluginSource(manifest, str(folder), entry, "test", uuid.uuid4().hex))
    under_test = PluginUnderTest(loaded, validate_config(manifest, {}))
    await under_test.call("on_start", trigger="start")
    try:
        yield under_test
    finally:
        await under_test.call("on_stop", trigger="stop")
        unload(loaded)
