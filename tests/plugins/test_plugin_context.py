"""The hook context: reply ids, streams, scheduled posts, state, membership, limits."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from plugins._context import HookContext, reply_message_id
from plugins.api import PluginApiError
from tests.plugins._fakes import FakeServices


def _ctx(
    services: FakeServices, *, thread_id: str | None = "t1", trigger: str = "m1"
) -> HookContext:
    return HookContext(
        plugin_id="echo",
        bot_user_id="plugin:echo",
        version="0.1.0",
        commit="c0ffee",
        config={},
        log=logging.getLogger("parley.plugin.echo"),
        services=services,
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
    services = FakeServices()
    ctx = _ctx(services)
    first = await ctx.reply("one")
    second = await ctx.reply("two")
    assert [first, second] == [reply_message_id("echo", "m1", i) for i in (0, 1)]
    again = await _ctx(services).reply("one")
    assert again == first


async def test_a_stream_posts_once_at_the_end_and_reports_its_parts() -> None:
    services = FakeServices()
    async with _ctx(services).stream() as out:
        await out.write("ab")
        await out.write("cd")
        assert out.text == "abcd"
        assert services.posts == []
    assert [(p.thread_id, p.text, p.message_id) for p in services.posts] == [
        ("t1", "abcd", reply_message_id("echo", "m1", 0))
    ]
    assert [(p.kind, p.index, p.text) for p in services.parts] == [
        ("start", 0, ""),
        ("delta", 0, "ab"),
        ("delta", 1, "cd"),
        ("finish", 2, "abcd"),
    ]


async def test_a_failing_stream_block_aborts_and_posts_nothing() -> None:
    services = FakeServices()
    with pytest.raises(RuntimeError, match=r"^model gone$"):
        async with _ctx(services).stream() as out:
            await out.write("ab")
            raise RuntimeError("model gone")
    assert services.posts == []
    assert [p.kind for p in services.parts] == ["start", "delta", "abort"]
    with pytest.raises(PluginApiError, match=r"^the stream has ended$"):
        await out.write("x")


async def test_post_later_is_scheduled_with_its_id() -> None:
    services = FakeServices()
    message_id = await _ctx(services).post_later(600, "tea")
    scheduled = [(d, p.text, p.message_id) for d, p in services.scheduled]
    assert scheduled == [(600.0, "tea", message_id)]


async def test_state_round_trip_and_refusals() -> None:
    services = FakeServices()
    state = _ctx(services).state
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
    services = FakeServices(members={"t2": {"plugin:echo"}})
    ctx = _ctx(services)
    await ctx.post("t2", "hi")
    with pytest.raises(PluginApiError, match=r"^plugin:echo is not a member of thread t3$"):
        await ctx.post("t3", "hi")
    with pytest.raises(PluginApiError, match=r"^a reply is at most 10 bytes of UTF-8$"):
        await ctx.reply("x" * 11)
    with pytest.raises(PluginApiError, match=r"^a reply needs some text$"):
        await ctx.reply("  ")
    no_thread = r"^no thread: this hook has no trigger thread, name one$"
    with pytest.raises(PluginApiError, match=no_thread):
        await _ctx(services, thread_id=None).reply("hi")
    assert [p.thread_id for p in services.posts] == ["t2"]
