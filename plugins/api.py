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

    routes = Routes()               # optional: HTTP routes under /api/plugins/<id>/...

    @routes.get("/stats")
    async def stats(ctx: Context, request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, {"seen": await ctx.state.get("seen", 0)})

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
- A route is called by any signed-in user through a gateway (`/api/plugins/<id>/<path>`,
  the same bearer token as the rest of the API; `request.user_id` says who). It runs in the
  plugin host beside the hooks, not queued behind them, within `hook_timeout_s` (then the
  caller gets 504). It takes and gives JSON only: a body up to 64 KiB, an answer up to
  1 MiB. An exception answers 500 with its message; neither counts as a hook failure (a bad
  request must not restart a plugin for everyone).
- Code runs inside Parley's plugin host (trusted code, same user); do not block the event
  loop: use `await`, never `time.sleep` or blocking sockets.

Changes to this module are versioned: `API_VERSION` is what `api_version` in plugin.toml
names; a change that breaks plugins makes a new version and the host keeps running the old.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

__all__ = [
    "API_VERSION",
    "HOOK_NAMES",
    "Context",
    "Counters",
    "HttpMethod",
    "HttpRequest",
    "HttpResponse",
    "JSONValue",
    "MemberChange",
    "Message",
    "PluginApiError",
    "ReplyStream",
    "RouteHandler",
    "Routes",
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
    sender_id: str = ""  # the plugin's bot user, who the reply is from
    reply_to: str = ""  # the trigger the reply answers


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

        Every subscriber of the thread sees the reply grow as `turn` frames (started, deltas
        numbered from 0, finished), like an assistant's turn; a write longer than 4,096
        characters becomes several deltas. The stored reply carries the stream's id as its
        `turn_id`. An exception out of the block aborts it (readers see `error`, nothing is
        posted) and propagates. Readers cannot stop a plugin's stream (Stop reaches only
        turns the core runs).
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


# --- HTTP routes -----------------------------------------------------------------------------

HttpMethod: TypeAlias = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
_METHODS: tuple[HttpMethod, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
_SEGMENT = re.compile(r"^(?:\{[a-z_][a-z0-9_]*\}|[A-Za-z0-9._~-]+)$")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A call of one of the plugin's routes, as the gateway received it.

    `path` is the part after `/api/plugins/<id>` (always starting with `/`); `params` the
    values of the route's `{name}` segments; `query` the query string (the last value of a
    repeated name); `body` the parsed JSON body (None without one); `user_id` the signed-in
    caller (the token's subject), already verified by the gateway.
    """

    method: HttpMethod
    path: str
    user_id: str
    query: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    body: JSONValue = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What a route answers: an HTTP status (100-599) and a JSON body."""

    status: int = 200
    body: JSONValue = None


#: a route handler; returning a plain JSON value means `HttpResponse(200, value)`
RouteHandler = Callable[[Context, HttpRequest], Awaitable["HttpResponse | JSONValue"]]


@dataclass(frozen=True, slots=True)
class _Route:
    method: HttpMethod
    pattern: str
    parts: tuple[str, ...]
    handler: RouteHandler


class Routes:
    """A plugin's HTTP routes; a module-level `routes = Routes()` in the server entry.

        routes = Routes()

        @routes.get("/stats")
        async def stats(ctx: Context, request: HttpRequest) -> HttpResponse: ...

        @routes.post("/threads/{thread_id}/note")
        async def note(ctx: Context, request: HttpRequest) -> dict[str, str]:
            await ctx.post(request.params["thread_id"], str(request.body))
            return {"ok": "posted"}

    A pattern is `/` and segments: literal ones, or `{name}` matching one segment. A
    declaration that is not valid raises PluginApiError, which refuses the version at load.
    """

    def __init__(self) -> None:
        self._routes: list[_Route] = []

    def route(self, method: HttpMethod, pattern: str) -> Callable[[RouteHandler], RouteHandler]:
        if method not in _METHODS:
            raise PluginApiError(f"route {pattern!r}: method must be one of {', '.join(_METHODS)}")
        parts = _pattern_parts(pattern)

        def register(handler: RouteHandler) -> RouteHandler:
            if not inspect.iscoroutinefunction(handler):
                raise PluginApiError(f"route {method} {pattern}: the handler must be an async def")
            if any(r.method == method and r.parts == parts for r in self._routes):
                raise PluginApiError(f"route {method} {pattern} is declared twice")
            self._routes.append(_Route(method, pattern, parts, handler))
            return handler

        return register

    def get(self, pattern: str) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("GET", pattern)

    def post(self, pattern: str) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("POST", pattern)

    def put(self, pattern: str) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("PUT", pattern)

    def patch(self, pattern: str) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("PATCH", pattern)

    def delete(self, pattern: str) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("DELETE", pattern)

    def declared(self) -> list[tuple[str, str]]:
        """(method, pattern) of every route, in declaration order."""
        return [(r.method, r.pattern) for r in self._routes]

    def match(self, method: str, path: str) -> tuple[RouteHandler, dict[str, str]] | None:
        """The handler for `method path` and its `{name}` values; None when nothing matches.

        Literal segments win over `{name}` ones (`/stats` before `/{anything}`)."""
        segments = tuple(s for s in path.split("/") if s)
        best: tuple[int, RouteHandler, dict[str, str]] | None = None
        for route in self._routes:
            if route.method != method or len(route.parts) != len(segments):
                continue
            params: dict[str, str] = {}
            literal = 0
            for part, segment in zip(route.parts, segments, strict=True):
                if part.startswith("{"):
                    params[part[1:-1]] = segment
                elif part == segment:
                    literal += 1
                else:
                    break
            else:
                if best is None or literal > best[0]:
                    best = (literal, route.handler, params)
        return None if best is None else (best[1], best[2])


def _pattern_parts(pattern: str) -> tuple[str, ...]:
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise PluginApiError(f"route pattern {pattern!r} must start with /")
    parts = tuple(p for p in pattern.split("/") if p)
    for part in parts:
        if not _SEGMENT.match(part):
            raise PluginApiError(
                f"route pattern {pattern!r}: segment {part!r} is neither a literal "
                "(letters, digits, . _ ~ -) nor {name}"
            )
    return parts
