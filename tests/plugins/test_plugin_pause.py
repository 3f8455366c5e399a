# ruff: noqa: E501
"""An operator's stop and start of a plugin (Pause / Resume) in the plugin actor, and the
plugin.version record of parley.plugin-versions: pure logic with in-memory services."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from actors import ActorRef, open_actor_system
from plugins._loader import load_plugin, unload
from plugins._runtime import (
    HookCall,
    Pause,
    PluginActor,
    PluginMsg,
    PluginSlot,
    PluginState,
    Resume,
    RuntimeDeps,
    Swap,
)
from plugins.api import Message
from protocol.events import EventDecodeError
from protocol.plugins import PluginVersion, decode_plugin_version
from tests.plugins._fakes import FakeServices, plugin_source

ECHO = """
async def on_start(ctx):
    ctx.counters.inc("started")

async def on_stop(ctx):
    ctx.counters.inc("stopped")

async def on_message(ctx, message):
    await ctx.reply("TAG: " + message.text)
"""


async def _call(ref: ActorRef[PluginMsg], text: str, seq: int) -> None:
    done = trio.Event()
    message = Message("t1", seq, f"m{seq}", "alice", text, "2026-01-01T00:00:00.000Z")
    ref.tell(HookCall("on_message", (message,), f"m{seq}", "t1", done.set))
    await done.wait()


async def test_a_stopped_plugin_skips_its_calls_keeps_a_new_version_stopped_and_starts_again(
    tmp_path: Path,
) -> None:
    services = FakeServices()
    first = load_plugin(plugin_source(tmp_path / "v1", ECHO.replace("TAG", "v1"), digest="b1"))
    slot = PluginSlot("pausing", loaded=first, state=PluginState.RUNNING)
    try:
        async with open_actor_system() as system:
            ref = await system.start(lambda: PluginActor(slot, RuntimeDeps(services)), name="p")
            await _call(ref, "a", 1)
            ref.tell(Pause("admin"))
            await _call(ref, "b", 2)  # skipped, never answered later
            assert (slot.state, slot.stopped_by, slot.skipped) == (PluginState.STOPPED, "admin", 1)
            assert slot.status()["stopped_by"] == "admin"
            second = load_plugin(plugin_source(tmp_path / "v2", ECHO.replace("TAG", "v2"), digest="b2"))
            ref.tell(Swap(second))
            await _call(ref, "c", 3)
            assert slot.state is PluginState.STOPPED
            assert slot.loaded is second
            ref.tell(Resume("admin"))
            await _call(ref, "d", 4)
            assert (slot.state, slot.stopped_by) == (PluginState.RUNNING, "")
    finally:
        if slot.loaded is not None:
            unload(slot.loaded)
    assert [p.text for p in services.posts] == ["v1: a", "v2: d"]
    # on_start: the first start, the resume; on_stop: the pause (the swap found it stopped),
    # the end of the actor system.
    assert (slot.counts["started"], slot.counts["stopped"]) == (2, 2)


def test_a_plugin_version_record_round_trips_and_bad_ones_name_the_field() -> None:
    record = PluginVersion("echo", "1.1.0", "a" * 40, "b" * 40, "plugins-a", 1.5)
    assert decode_plugin_version(record.encode()) == record
    assert decode_plugin_version(b'{"type": "plugin.version", "v": 2}') is None
    assert decode_plugin_version(b'{"type": "something.else"}') is None
    bad = record.encode().replace(b'"commit":"' + b"a" * 40 + b'"', b'"commit":""')
    with pytest.raises(EventDecodeError, match=r"^field 'commit' must be a non-empty string$"):
        decode_plugin_version(bad)
    with pytest.raises(EventDecodeError, match=r"^a plugin version must be a JSON object$"):
        decode_plugin_version(b"[1]")
