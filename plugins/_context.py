"""The Context a hook call gets: replies with ids derived from the trigger, state, history.

The I/O goes through `PluginServices` (Kafka and the store in the host, fakes in unit tests),
so this module is plain logic: which message id a reply gets, what is checked before it is posted.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import orjson
import trio

from protocol.events import PostMessage, utc_now_iso
from protocol.turns import MAX_DELTA_CHARS

from .api import JSONValue, Message, PluginApiError, ReplyStream, StreamPart

__all__ = ["HookContext", "PluginServices", "reply_message_id"]

# Fixed forever: every reply id ever handed out depends on it.
_NAMESPACE = uuid.UUID("6f9d3c1e-2b7a-5e4f-9c1d-7a3b5e8f0c2d")
_MAX_KEY = 200
_MAX_STATE_BYTES = 256 * 1024
_MAX_HISTORY = 500
_MAX_DELAY_S = 366 * 24 * 3600.0


def reply_message_id(plugin_id: str, trigger: str, index: int) -> str:
    """The id of the `index`-th message a plugin posts for `trigger` (same inputs, same id)."""
    return str(uuid.uuid5(_NAMESPACE, f"{plugin_id}\x00{trigger}\x00{index}"))


class PluginServices(Protocol):
    """What a context needs from the outside world."""

    async def post(self, post: PostMessage) -> None:
        """Produce to chat.commands; returns once Kafka acknowledged it."""

    async def is_member(self, thread_id: str, user_id: str) -> bool: ...

    async def history(self, thread_id: str, limit: int) -> list[dict[str, Any]]: ...

    async def state_get(self, plugin_id: str, key: str) -> tuple[bool, JSONValue]: ...

    async def state_set(self, plugin_id: str, key: str, value: JSONValue) -> None: ...

    async def state_delete(self, plugin_id: str, key: str) -> None: ...

    async def state_keys(self, plugin_id: str, prefix: str) -> list[str]: ...

    async def schedule(self, plugin_id: str, delay_s: float, post: PostMessage) -> None:
        """Post `post` after `delay_s` seconds, durably."""

    async def stream_part(self, part: StreamPart) -> None:
        """Hand a stream part to whoever watches (lossy: returns once it is queued)."""


class _State:
    __slots__ = ("_plugin_id", "_services")

    def __init__(self, plugin_id: str, services: PluginServices) -> None:
        self._plugin_id = plugin_id
        self._services = services

    async def get(self, key: str, default: JSONValue = None) -> JSONValue:
        found, value = await self._services.state_get(self._plugin_id, _key(key))
        return value if found else default

    async def set(self, key: str, value: JSONValue) -> None:
        try:
            size = len(orjson.dumps(value))
        except TypeError as exc:
            raise PluginApiError(f"state value of {key!r} is not JSON: {exc}") from None
        if size > _MAX_STATE_BYTES:
            raise PluginApiError(f"state value of {key!r} is over {_MAX_STATE_BYTES} bytes")
        await self._services.state_set(self._plugin_id, _key(key), value)

    async def delete(self, key: str) -> None:
        await self._services.state_delete(self._plugin_id, _key(key))

    async def keys(self, prefix: str = "") -> list[str]:
        return await self._services.state_keys(self._plugin_id, prefix)


def _key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY:
        raise PluginApiError(f"a state key is a string of 1 to {_MAX_KEY} characters")
    return key


class _Counters:
    __slots__ = ("_counts",)

    def __init__(self, counts: Counter[str]) -> None:
        self._counts = counts

    def inc(self, name: str, amount: int = 1) -> None:
        self._counts[name] += amount


class _Stream:
    def __init__(self, ctx: HookContext, thread_id: str, message_id: str) -> None:
        self.message_id = message_id
        self._ctx = ctx
        self._thread_id = thread_id
        self._parts: list[str] = []
        self._open = True

    @property
    def text(self) -> str:
        return "".join(self._parts)

    async def write(self, delta: str) -> None:
        if not self._open:
            raise PluginApiError("the stream has ended")
        if not isinstance(delta, str):
            raise PluginApiError("a stream writes text")
        # Readers number deltas one by one and bound each one (MAX_DELTA_CHARS): a long write
        # becomes several deltas, each with its own index.
        for start in range(0, len(delta), MAX_DELTA_CHARS):
            chunk = delta[start : start + MAX_DELTA_CHARS]
            self._parts.append(chunk)
            await self._part("delta", len(self._parts) - 1, chunk)

    async def abort(self, reason: str) -> None:
        if self._open:
            self._open = False
            await self._part("abort", len(self._parts), reason)

    async def _part(self, kind: Any, index: int, text: str) -> None:
        part = StreamPart(
            kind,
            self.message_id,
            self._thread_id,
            index,
            text,
            sender_id=self._ctx.bot_user_id,
            reply_to=self._ctx._trigger,
        )
        await self._ctx._services.stream_part(part)


class HookContext:
    """The `plugins.api.Context` of one hook call (see there for what each member does)."""

    def __init__(
        self,
        *,
        plugin_id: str,
        bot_user_id: str,
        version: str,
        commit: str,
        config: Mapping[str, Any],
        log: logging.Logger,
        services: PluginServices,
        counts: Counter[str],
        trigger: str,
        thread_id: str | None,
        max_text_bytes: int = 16_384,
    ) -> None:
        self.plugin_id = plugin_id
        self.bot_user_id = bot_user_id
        self.version = version
        self.commit = commit
        self.config = config
        self.log = log
        self.state = _State(plugin_id, services)
        self.counters = _Counters(counts)
        self.thread_id = thread_id
        self._services = services
        self._trigger = trigger
        self._max_text_bytes = max_text_bytes
        self._replies = 0

    def _next_id(self) -> str:
        # Taken before any I/O, so the n-th reply keeps its id whatever fails around it.
        index = self._replies
        self._replies += 1
        return reply_message_id(self.plugin_id, self._trigger, index)

    def _thread(self, thread_id: str | None) -> str:
        chosen = thread_id or self.thread_id
        if chosen is None:
            raise PluginApiError("no thread: this hook has no trigger thread, name one")
        return chosen

    def _make_post(
        self, thread_id: str, text: str, message_id: str, turn_id: str | None = None
    ) -> PostMessage:
        if not isinstance(text, str) or not text.strip():
            raise PluginApiError("a reply needs some text")
        if len(text.encode()) > self._max_text_bytes:
            raise PluginApiError(f"a reply is at most {self._max_text_bytes} bytes of UTF-8")
        return PostMessage(
            message_id=message_id,
            thread_id=thread_id,
            sender_id=self.bot_user_id,
            text=text,
            created_at=utc_now_iso(),
            turn_id=turn_id,
            # A stream's reply is stored once it finished: the turn browsers watched completed.
            turn_status=None if turn_id is None else "complete",
        )

    async def _check_member(self, thread_id: str) -> None:
        if thread_id != self.thread_id and not await self._services.is_member(
            thread_id, self.bot_user_id
        ):
            raise PluginApiError(f"{self.bot_user_id} is not a member of thread {thread_id}")

    async def reply(self, text: str) -> str:
        return await self.post(self._thread(None), text)

    async def post(self, thread_id: str, text: str) -> str:
        message_id = self._next_id()
        post = self._make_post(thread_id, text, message_id)
        await self._check_member(thread_id)
        await self._services.post(post)
        return message_id

    async def post_later(self, delay_s: float, text: str, thread_id: str | None = None) -> str:
        if not (isinstance(delay_s, int | float) and 0 <= delay_s <= _MAX_DELAY_S):
            raise PluginApiError("delay_s must be between 0 and one year")
        if math.isnan(delay_s):
            raise PluginApiError("delay_s must be a number")
        target = self._thread(thread_id)
        message_id = self._next_id()
        post = self._make_post(target, text, message_id)
        await self._check_member(target)
        await self._services.schedule(self.plugin_id, float(delay_s), post)
        return message_id

    @asynccontextmanager
    async def stream(self, thread_id: str | None = None) -> AsyncIterator[ReplyStream]:
        target = self._thread(thread_id)
        await self._check_member(target)
        out = _Stream(self, target, self._next_id())
        await out._part("start", 0, "")
        try:
            yield out
        except BaseException:
            # Shielded, briefly: a hook cancelled at its deadline still tells readers that the
            # reply ended, or they would show it growing forever.
            with trio.move_on_after(1) as scope:
                scope.shield = True
                await out.abort("the plugin's stream block failed")
            raise
        if not out._open:
            return
        out._open = False
        # The stored reply carries its stream's id (turn_id), so a browser replaces the reply
        # it watched grow with the stored one.
        post = self._make_post(target, out.text, out.message_id, turn_id=out.message_id)
        await self._services.post(post)
        await out._part("finish", len(out._parts), out.text)

    async def history(self, thread_id: str | None = None, *, limit: int = 50) -> list[Message]:
        target = self._thread(thread_id)
        await self._check_member(target)
        rows = await self._services.history(target, max(1, min(limit, _MAX_HISTORY)))
        return [
            Message(
                thread_id=str(r["thread_id"]),
                seq=int(r["seq"]),
                message_id=str(r["message_id"]),
                sender_id=str(r["sender_id"]),
                text=str(r["text"]),
                created_at=str(r["created_at"]),
            )
            for r in rows
        ]
