# ruff: noqa: E501
"""The plugin actor: replies, deadlines, the failure policy, blue/green swaps."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from actors import ActorRef, open_actor_system
from plugins._context import reply_message_id
from plugins._loader import load_plugin, module_prefix
from plugins._runtime import (
    HookCall,
    PluginActor,
    PluginMsg,
    PluginSlot,
    PluginState,
    RuntimeDeps,
    Swap,
)
from plugins.api import Message
from protocol.events import MessageEvent
from tests.plugins._fakes import FakeServices, plugin_source


@pytest.fixture(autouse=True)
def _forget_loaded_modules() -> Iterator[None]:
    # These tests load versions straight into slots and do not always unload them; what they
    # leave in sys.modules would fail the loader's "leaves no module" checks in a later test.
    yield
    for name in [n for n in sys.modules if n.startswith(module_prefix("echo"))]:
        del sys.modules[name]


ECHO = """
async def on_message(ctx, message):
    ctx.counters.inc("seen")
    await ctx.reply("v1: " + message.text)
"""

FLAKY = """
async def on_message(ctx, message):
    if message.text == "raise":
        raise RuntimeError("boom")
    if message.text == "hang":
        import trio
        await trio.sleep_forever()
    await ctx.reply("ok")
"""


def _message(text: str, seq: int = 1) -> Message:
    event = MessageEvent("t1", seq, f"m{seq}", "alice", text, "2026-01-01T00:00:00.000Z")
    return Message(event.thread_id, event.seq, event.message_id, event.sender_id, event.text, event.created_at)


async def _call(ref: ActorRef[PluginMsg], text: str, seq: int = 1) -> None:
    done = trio.Event()
    ref.tell(HookCall("on_message", (_message(text, seq),), f"m{seq}", "t1", done.set))
    await done.wait()


async def test_a_message_gets_a_reply_with_an_id_derived_from_the_trigger(tmp_path: Path) -> None:
    services = FakeServices()
    slot = PluginSlot("echo", loaded=load_plugin(plugin_source(tmp_path, ECHO)), state=PluginState.RUNNING)
    async with open_actor_system() as system:
        ref = await system.start(lambda: PluginActor(slot, RuntimeDeps(services)), name="echo")
        await _call(ref, "hi")
        await _call(ref, "hi")  # the same trigger again (a redelivery)
    assert [p.text for p in services.posts] == ["v1: hi", "v1: hi"]
    assert {p.message_id for p in services.posts} == {reply_message_id("echo", "m1", 0)}
    assert services.posts[0].sender_id == "plugin:echo"
    assert services.posts[0].thread_id == "t1"
    assert slot.counts["seen"] == 2
    assert slot.hook_calls == 2


async def test_a_plugin_that_keeps_raising_is_restarted_then_failed(tmp_path: Path) -> None:
    services = FakeServices()
    source = plugin_source(tmp_path, FLAKY, runtime="[runtime]\nmax_failures = 2\nrestarts = 1\n")
    first = load_plugin(source)
    first_module = weakref.ref(first.module)
    slot = PluginSlot("echo", loaded=first, state=PluginState.RUNNING)
    del first
    async with open_actor_system() as system:
        ref = await system.start(lambda: PluginActor(slot, RuntimeDeps(services)), name="echo")
        await _call(ref, "raise", 1)
        assert slot.state is PluginState.RUNNING
        await _call(ref, "ok", 2)  # a success resets the run of failures
        await _call(ref, "raise", 3)
        await _call(ref, "raise", 4)
        assert slot.restarts == 1
        assert slot.state is PluginState.RUNNING
        gc.collect()
        assert first_module() is None  # the restart loaded a fresh module
        await _call(ref, "raise", 5)
        await _call(ref, "raise", 6)
        assert slot.state is PluginState.FAILED
        await _call(ref, "ok", 7)  # skipped while failed
    assert slot.failures == 5
    assert slot.skipped == 1
    assert slot.last_error == "on_message raised RuntimeError: boom"
    assert [p.text for p in services.posts] == ["ok"]


async def test_a_hanging_hook_is_cut_at_its_deadline(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    services = FakeServices()
    source = plugin_source(tmp_path, FLAKY, runtime="[runtime]\nhook_timeout_s = 2\nmax_failures = 1\nrestarts = 0\n")
    slot = PluginSlot("echo", loaded=load_plugin(source), state=PluginState.RUNNING)
    async with open_actor_system() as system:
        ref = await system.start(lambda: PluginActor(slot, RuntimeDeps(services)), name="echo")
        await _call(ref, "hang")
    assert slot.state is PluginState.FAILED
    assert slot.last_error == "on_message did not finish within 2 s"


async def test_a_swap_serves_the_new_version_and_frees_the_old(tmp_path: Path) -> None:
    services = FakeServices()
    old = load_plugin(plugin_source(tmp_path / "v1", ECHO, digest="a1"))
    old_ref = weakref.ref(old.module)
    slot = PluginSlot("echo", loaded=old, state=PluginState.RUNNING)
    del old
    async with open_actor_system() as system:
        ref = await system.start(lambda: PluginActor(slot, RuntimeDeps(services)), name="echo")
        await _call(ref, "a", 1)
        new = load_plugin(plugin_source(tmp_path / "v2", ECHO.replace("v1: ", "v2: "), digest="a2"))
        ref.tell(Swap(new))
        del new
        await _call(ref, "b", 2)
        gc.collect()
        assert old_ref() is None
    assert [p.text for p in services.posts] == ["v1: a", "v2: b"]
