"""The Parley plugin API, version 1: the only module a plugin imports from Parley.

A plugin is a folder in the workspace with a `plugin.toml` (see `parley plugin new`) whose
server entry is a Python module defining any of these module-level coroutine functions:

    from plugins.api import Context, Message

    async def on_start(ctx: Context) -> None: ...                  # loaded (or reloaded)
    async def on_stop(ctx: Context) -> None: ...                   # replaced or unloaded
    async def on_message(ctx: Context, message: Message) -> None:  # a new message in a
        if message.text == "/ping":                                # thread the bot is in
            await ctx.reply("pong")
    async def on_thread_created(ctx: Context, thread: Thread) -> None: ...
    async def on_member_added(ctx: Context, change: MemberChange) -> None: ...
    async def on_member_removed(ctx: Context, change: MemberChange) -> None: ...

    def self_check() -> None: ...   # optional: raise to refuse this version at load time

The plugin's bot user (`plugin:<id>`, see `Context.bot_user_id`) is added to a thread like
any member; the hooks then see that thread. The bot's own messages never trigger it.

Guarantees and limits:

- Hooks of one plugin run one at a time, in the order things happened in each thread. Every
  call has a deadline (`[runtime] hook_timeout_s`, 5 s by default); a call that raises or
  overruns counts as a failure. `max_failures` failures in a row restart the plugin (a fresh
  module, `on_start` again); after `restarts` restarts it stays `failed` until a new version
  is loaded. The rest of Parley runs on: plugins live in their own process.
- Delivery is at least once: after a crash a trigger may be handed to the plugin again.
  Replies are idempotent: the n-th reply to a trigger gets a message id derived from the
  plugin id, the trigger and n, and the store keeps one message per id, so a redelivered
  trigger never posts twice. Keep replies in the same order for the same trigger.
- A reply goes through the normal pipeline (Kafka `chat.commands`, then the thread's
  sequencer): `reply()` returns once Kafka has it, not once it is stored.
- Code runs inside Parley's plugin host (trusted code, same user); do not block the event
  loop: use `await`, never `time.sleep` or blocking sockets.

Changes to this module are versioned: `API_VERSION` is what `api_version` in plugin.toml
names; a change that breaks plugins makes a new version and the host keeps running the old.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

__all__ = [
    "API_VERSION",
    "HOOK_NAMES",
    "Context",
    "Counters",
    "JSONValue",
    "MemberChange",
    "Message",
    "PluginApiError",
    "ReplyStream",
    "State",
    "StreamPart",
    "Thread",
]

#: the version of this API; a plugin names it as `api_version` in its plugin.toml
API_VERSION = 1

#: the hooks a server entry may define (module-level `async def`s)
HOOK_NAMES: tuple[str, ...] = (
    "on_start",
    "on_stop",
    "on_message",
    "on_thread_created",
    "on_member_added",
    "on_member_removed",
)

JSONValue: TypeAlias = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None


class PluginApiError(Exception):
    """Raised when a plugin uses the API wrongly (reply without a thread, text too long,
    a state value that is not JSON, a stream written after it ended)."""


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message of a thread the bot is a member of."""

    thread_id: str
    seq: int
    message_id: str
    sender_id: str
    text: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Thread:
    """A thread the bot was made a member of when it was created."""

    thread_id: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MemberChange:
    """Someone (possibly the bot itself) joined or left a thread; `members` is the new list."""

    thread_id: str
    user_id: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StreamPart:
    """One part of a streamed reply, as the AI SDK's stream protocol has them.

    `start` (the reply's message id is known), `delta` (text to append; `index` counts from
    0), `finish` (`text` is the whole reply, posted as one message), `abort` (`text` says
    why; nothing is posted). Deltas travel on a path that may lose them; the finished
    message goes through Kafka and the store like any other.
    """

    kind: Literal["start", "delta", "finish", "abort"]
    message_id: str
    thread_id: str
    index: int = 0
    text: str = ""


class State(Protocol):
    """Durable per-plugin key/value state in the store (values are JSON, keys <= 200 chars).

    Survives reloads, restarts and new versions; one document per key, so a large state is
    many small writes, not one growing document.
    """

    async def get(self, key: str, default: JSONValue = None) -> JSONValue: ...
    async def set(self, key: str, value: JSONValue) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def keys(self, prefix: str = "") -> list[str]: ...


class Counters(Protocol):
    """Named counters of this plugin, shown by `parley plugin list` and the host's metrics."""

    def inc(self, name: str, amount: int = 1) -> None: ...


class ReplyStream(Protocol):
    """A reply written in parts; see `Context.stream()`."""

    #: id of the message the finished reply is posted as (known before the first part)
    message_id: str

    async def write(self, delta: str) -> None:
        """Append `delta`; observers of the stream see it at once (best effort)."""
        ...

    @property
    def text(self) -> str:
        """Everything written so far."""
        ...

    async def abort(self, reason: str) -> None:
        """End the stream without posting anything."""
        ...


class Context(Protocol):
    """What a hook call may use. A fresh context per call; do not keep it after the call."""

    #: the plugin's id (from plugin.toml)
    plugin_id: str
    #: the member id that adds this plugin to a thread, and the sender of its replies
    bot_user_id: str
    #: the plugin's version (plugin.toml) and the workspace commit it was loaded from
    version: str
    commit: str
    #: validated settings: plugin.toml [config] defaults with the operator's overrides
    config: Mapping[str, Any]
    #: a logger named `parley.plugin.<id>`; records go to `parley plugin logs <id>`
    log: logging.Logger
    state: State
    counters: Counters
    #: the thread the triggering event happened in (None in on_start / on_stop)
    thread_id: str | None

    async def reply(self, text: str) -> str:
        """Post `text` into the trigger's thread as the bot; returns the message id."""
        ...

    async def post(self, thread_id: str, text: str) -> str:
        """Post `text` into `thread_id` (the bot must be a member) as the bot."""
        ...

    async def post_later(self, delay_s: float, text: str, thread_id: str | None = None) -> str:
        """Post `text` after `delay_s` seconds (durable: survives restarts); returns its id."""
        ...

    def stream(self, thread_id: str | None = None) -> AbstractAsyncContextManager[ReplyStream]:
        """A reply written in parts, posted as one message when the block ends normally.

            async with ctx.stream() as out:
                async for token in model.tokens():
                    await out.write(token)

        An exception out of the block aborts it (nothing is posted) and propagates.
        """
        ...

    async def history(self, thread_id: str | None = None, *, limit: int = 50) -> list[Message]:
        """The newest `limit` (<= 500) messages of the thread, oldest first."""
        ...


#: the signatures of the hooks (for type checking a plugin)
OnStart = Callable[[Context], Awaitable[None]]
OnMessage = Callable[[Context, Message], Awaitable[None]]
OnThreadCreated = Callable[[Context, Thread], Awaitable[None]]
OnMemberChange = Callable[[Context, MemberChange], Awaitable[None]]
