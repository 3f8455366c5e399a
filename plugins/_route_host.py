"""The plugin host's side of plugin HTTP routes: an internal endpoint the gateways call.

Why HTTP between gateway and host (not request/reply over Kafka): a route call is a short,
synchronous exchange with one caller waiting; HTTP gives it a deadline, a status and a body
for free, and a host that is gone fails the connection at once. Kafka would need a reply
topic per gateway, correlation ids and its own timeouts, and would add a produce/consume
round trip to every call. The host already runs an HTTP server (/healthz, /metrics), so the
endpoint costs one blueprint.

    POST /internal/plugin-routes/<plugin id>
      Authorization: Bearer <the host's route secret>
      {"method", "path", "query": {name: value}, "body": JSON | null, "user_id"}
    -> the route's status and JSON body, or a `protocol.refusals` refusal (its status,
       body {"error": {"code", "message", "field"?}} and headers), which the gateway passes on

The host announces where it listens (`routes_url`) and a random per-process secret
(`route_secret`) in its plugin_status documents; gateways read them from the store (whoever
can read the store can already do anything, so the secret adds no new trust root) and only
gateways, which checked the user's token first, can call a plugin as a user.

A route runs in the HTTP request's task, beside the plugin's hooks (not queued behind a slow
hook), within the plugin's `hook_timeout_s`; its failures are answered, logged to the
plugin's log, and not counted against its restart policy.
"""

from __future__ import annotations

import hmac
import secrets
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import orjson
import trio
from quart import Blueprint, Response, request

from protocol.refusals import (
    ApiError,
    AuthError,
    NotFound,
    PluginFailed,
    PluginTimeout,
    PluginUnavailable,
    Refusal,
)

from ._context import HookContext
from ._manifest import validate_config
from ._runtime import PluginState
from .api import Context, HttpMethod, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from ._runtime import PluginSlot, RuntimeDeps

__all__ = [
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "RouteAnswer",
    "RouteEnvelope",
    "new_route_secret",
    "parse_envelope",
    "route_host_blueprint",
    "run_route",
]

#: a route's JSON body, at most (the gateway refuses larger ones with 413)
MAX_REQUEST_BYTES = 64 * 1024
#: a route's encoded answer, at most (a larger one answers 500)
MAX_RESPONSE_BYTES = 1024 * 1024
_METHODS: tuple[HttpMethod, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
_MAX_PATH = 2048


class _NotThroughGateway(AuthError):
    """Raised when the internal endpoint is called without the host's route secret."""

    hint = "call /api/plugins/<id>/<path> on a gateway"


def new_route_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class RouteEnvelope:
    """One route call as the gateway forwards it."""

    method: HttpMethod
    path: str
    user_id: str
    query: dict[str, str]
    body: Any


@dataclass(frozen=True, slots=True)
class RouteAnswer:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def refused(cls, refusal: Refusal) -> RouteAnswer:
        """A refusal answered as the gateway answers it (status, JSON body, headers)."""
        return cls(refusal.status, refusal.to_json().encode(), refusal.headers())


class EnvelopeError(ValueError):
    """Raised when a forwarded route call is malformed (a gateway bug or a stray caller)."""


def parse_envelope(raw: object) -> RouteEnvelope:
    """Check a forwarded call field by field; raises EnvelopeError naming the field."""
    if not isinstance(raw, dict):
        raise EnvelopeError("the route call must be a JSON object")
    method = raw.get("method")
    if method not in _METHODS:
        raise EnvelopeError(f"method: must be one of {', '.join(_METHODS)}")
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/") or len(path) > _MAX_PATH:
        raise EnvelopeError(f"path: must be a string starting with / of <= {_MAX_PATH} chars")
    user_id = raw.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise EnvelopeError("user_id: must be a non-empty string")
    query = raw.get("query", {})
    if not isinstance(query, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in query.items()
    ):
        raise EnvelopeError("query: must be an object of strings")
    return RouteEnvelope(method, path, user_id, dict(query), raw.get("body"))


async def run_route(
    plugin_id: str,
    slot: PluginSlot | None,
    deps: RuntimeDeps,
    call: RouteEnvelope,
) -> RouteAnswer:
    """Run the plugin's handler for `call` within its deadline; every outcome is an answer."""
    if slot is None or slot.loaded is None:
        return RouteAnswer.refused(
            NotFound(f"plugin {plugin_id!r} is not loaded on this plugin host", field="plugin_id")
        )
    if slot.state is not PluginState.RUNNING:
        why = f": {slot.refusal or slot.last_error}" if (slot.refusal or slot.last_error) else ""
        return RouteAnswer.refused(
            PluginUnavailable(
                f"plugin {plugin_id!r} is {slot.state.value}{why}",
                field="plugin_id",
                retry_after_s=1,
            )
        )
    loaded = slot.loaded
    found = loaded.routes.match(call.method, call.path) if loaded.routes else None
    what = f"{call.method} {call.path}"
    if found is None:
        return RouteAnswer.refused(
            NotFound(f"plugin {plugin_id!r} has no route {what}", field="path")
        )
    handler, params = found
    manifest = loaded.manifest
    ctx = HookContext(
        plugin_id=manifest.id,
        bot_user_id=manifest.bot_user_id,
        version=manifest.version,
        commit=loaded.source.commit,
        config=validate_config(manifest, _overrides(deps, manifest.id)),
        log=slot.logger,
        services=deps.services,
        counts=slot.counts,
        # Each HTTP call is its own trigger: two calls that post make two messages.
        trigger=f"http:{uuid.uuid4()}",
        thread_id=None,
        max_text_bytes=deps.max_text_bytes,
    )
    http_request = HttpRequest(
        method=call.method,
        path=call.path,
        user_id=call.user_id,
        query=call.query,
        params=params,
        body=call.body,
    )
    timeout = manifest.runtime.hook_timeout_s
    result: object = None
    with trio.move_on_after(timeout) as scope:
        try:
            # HookContext is the Context protocol's implementation (its State and
            # Counters are private classes of the same shape).
            result = await handler(cast("Context", ctx), http_request)
        except Exception as exc:  # the plugin's bug; Cancelled (a BaseException) passes
            message = f"plugin {plugin_id!r}: route {what} raised {type(exc).__name__}: {exc}"
            slot.logger.error("%s\n%s", message, "".join(traceback.format_exception(exc)))
            return RouteAnswer.refused(PluginFailed(message, field="path"))
    if scope.cancelled_caught:
        message = f"plugin {plugin_id!r}: route {what} did not answer within {timeout:g} s"
        slot.logger.error("%s", message)
        return RouteAnswer.refused(PluginTimeout(message, field="path"))
    return _encode(plugin_id, what, slot, result)


def _encode(plugin_id: str, what: str, slot: PluginSlot, result: object) -> RouteAnswer:
    status, body = (
        (result.status, result.body) if isinstance(result, HttpResponse) else (200, result)
    )
    problem = ""
    encoded = b""
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        problem = f"answered status {status!r} (an int from 100 to 599 is needed)"
    else:
        try:
            encoded = orjson.dumps(body)
        except TypeError as exc:
            problem = f"answered a body that is not JSON: {exc}"
        else:
            if len(encoded) > MAX_RESPONSE_BYTES:
                problem = f"answered {len(encoded)} bytes (at most {MAX_RESPONSE_BYTES})"
    if problem:
        message = f"plugin {plugin_id!r}: route {what} {problem}"
        slot.logger.error("%s", message)
        return RouteAnswer.refused(PluginFailed(message, field="path"))
    return RouteAnswer(status, encoded)


def _overrides(deps: RuntimeDeps, plugin_id: str) -> Mapping[str, Any]:
    return deps.config_overrides.get(plugin_id, {})


def route_host_blueprint(
    slots: Mapping[str, PluginSlot], deps: RuntimeDeps, secret: str
) -> Blueprint:
    """The internal endpoint (see the module docstring); `slots` is the host's live dict."""
    blueprint = Blueprint("plugin_route_host", __name__)
    expected = f"Bearer {secret}".encode()

    @blueprint.post("/internal/plugin-routes/<plugin_id>")
    async def call_route(plugin_id: str) -> Response:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            answer = RouteAnswer.refused(
                _NotThroughGateway("plugin routes are called through a gateway")
            )
        else:
            try:
                envelope = parse_envelope(await request.get_json(force=True, silent=True))
            except EnvelopeError as exc:
                answer = RouteAnswer.refused(ApiError(str(exc)))
            else:
                answer = await run_route(plugin_id, slots.get(plugin_id), deps, envelope)
        return Response(
            answer.body,
            status=answer.status,
            headers=dict(answer.headers),
            content_type="application/json",
        )

    return blueprint
