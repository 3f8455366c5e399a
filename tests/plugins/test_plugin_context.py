"""The hook context: reply ids, streams, scheduled posts, state, membership, limits."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from plugins._context import HookContext, reply_message_id
from plugins.api import PluginApiError
from tests.plugins._fakes import FakePorts


def _ctx(ports: FakePorts, *, thread_id: str | None = "t1", trigger: str = "m1") -> HookContext:
    return HookContext(
        plugin_id="echo",
        bot_user_id="plugin:echo",
        version="0.1.0",
        commit="c0ffee",
        config={},
        log=logging.getLogger("parley.plugin.echo"),
        ports=ports,
        counts=Counter(),
        trigger=trigger,
        thread_id=thread_id,
        max_text_bytes=10,
    )


def test_reply_ids_are_stable_and_distinct() -> None:
    assert reply_message_id("echo", "m1", 0) == reply_message_id("echo", "m1", 0)
    ids = {reply_message_id(p, t, i) for p in ("a", "b") for t in ("m1", "m2") for i in (0, 1)}
    assert len(ids) == 8


async def test_replies_are_numbered_per_trigger() -> None:
    ports = FakePorts()
    ctx = _ctx(ports)
    first = await ctx.reply("one")
    second = await ctx.reply("two")
    assert [first, second] == [reply_message_id("echo", "m1", i) for i in (0, 1)]
    again = await _ctx(ports).reply("one")
    assert again == first


async def test_a_stream_posts_once_at_the_end_and_reports_its_parts() -> None:
    ports = FakePorts()
    async with _ctx(ports).stream() as out:
        await out.write("ab")
        await out.write("cd")
        assert out.text == "abcd"
        assert ports.posts == []
    assert [(p.thread_id, p.text, p.message_id) for p in ports.posts] == [
        ("t1", "abcd", reply_message_id("echo", "m1", 0))
    ]
    assert [(p.kind, p.index, p.text) for p in ports.parts] == [
        ("start", 0, ""),
        ("delta", 0, "ab"),
        ("delta", 1, "cd"),
        ("finish", 2, "abcd"),
    ]


async def test_a_failing_stream_block_aborts_and_posts_nothing() -> None:
    ports = FakePorts()
    with pytest.raises(RuntimeError, match=r"^model gone$"):
        async with _ctx(ports).stream() as out:
            await out.write("ab")
            raise RuntimeError("model gone")
    assert ports.posts == []
    assert [p.kind for p in ports.parts] == ["start", "delta", "abort"]
    with pytest.raises(PluginApiError, match=r"^the stream has ended$"):
        await out.write("x")


async def test_post_later_is_scheduled_with_its_id() -> None:
    ports = FakePorts()
    message_id = await _ctx(ports).post_later(600, "tea")
    assert [(d, p.text, p.message_id) for d, p in ports.scheduled] == [(600.0, "tea", message_id)]


async def test_state_round_trip_and_refusals() -> None:
    ports = FakePorts()
    state = _ctx(ports).state
    assert await state.get("k", "none") == "none"
    await state.set("k", {"n": [1, 2]})
    assert await state.get("k") == {"n": [1, 2]}
    assert await state.keys() == ["k"]
    await state.delete("k")
    assert await state.keys() == []
    with pytest.raises(PluginApiError, match=r"^a state key is a string of 1 to 200 characters$"):
        await state.get("")
    with pytest.raises(PluginApiError, match=r"^state value of 'k' is not JSON: .*$"):
        await state.set("k", {1, 2})  # type: ignore[arg-type]


async def test_posting_elsewhere_needs_membership_and_limits_hold() -> None:
    ports = FakePorts(members={"t2": {"plugin:echo"}})
    ctx = _ctx(ports)
    await ctx.post("t2", "hi")
    with pytest.raises(PluginApiError, match=r"^plugin:echo is not a member of thread t3$"):
        await ctx.post("t3", "hi")
    with pytest.raises(PluginApiError, match=r"^a reply is at most 10 bytes of UTF-8$"):
        await ctx.reply("x" * 11)
    with pytest.raises(PluginApiError, match=r"^a reply needs some text$"):
        await ctx.reply("  ")
    no_thread = r"^no thread: this hook has no trigger thread, name one$"
    with pytest.raises(PluginApiError, match=no_thread):
        await _ctx(ports, thread_id=None).reply("hi")
    assert [p.thread_id for p in ports.posts] == ["t2"]
