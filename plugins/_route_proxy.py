"""The gateway's side of plugin HTTP routes: `/api/plugins/<id>/<path>` to a plugin host.

    client ──token──▶ gateway: authenticate, check the body, pick a host running the plugin
                      (from plugin_status), POST the call to the host's internal endpoint
                      ──▶ plugin host: run the handler within hook_timeout_s (_route_host)
    client ◀── the route's status and JSON body (or a refusal, see below)

Every failure is a `protocol.refusals` refusal (`{"error": {"code", "message", "field"}}`,
the plugin named in the message, the field naming what to fix), whichever side found it:

    401  missing_token, ...   no or a bad token (the gateway's own check, as for every route)
    404  not_found            field plugin_id: no host reports the plugin, or the host that
                              was asked has not loaded it; field path: the plugin has no such
                              route
    413  too_large            field body: a body over 64 KiB
    422  invalid              field body: a body that is not JSON
    500  plugin_error         field path: the handler raised, or answered something that is
                              not JSON, a bad status or too much
    503  plugin_unavailable   field plugin_id: the plugin is failed/refused/stopped (with its
                              last error), or its host could not be reached; + Retry-After
    504  plugin_timeout       field path: the handler overran its deadline, or the host did
                              not answer within the deadline plus a grace (a busy-looping host)

The OpenAPI document (gateway.openapi) lists them; a test checks every refusal seen on the
wire is documented there.

One pooled httpx client per gateway app, opened and closed with the app's serving lifespan:
a fresh client per call was measured at 270-890 ms per call on the shared test machine (it
builds a TLS context each time) against 10-85 ms for the host's own answer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
from quart import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from adapters import DocumentCollection
from protocol.refusals import (
    NotFound,
    PayloadTooLarge,
    PluginFailed,
    PluginTimeout,
    PluginUnavailable,
    ValidationFailed,
)

from ._route_host import MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES

__all__ = ["METHODS", "HostClient", "route_proxy"]

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

_STALE_S = 10.0
# Beyond the plugin's own deadline: the host answers 504 itself when the handler overruns;
# the gateway's timeout only fires when the host cannot answer at all (its loop is held).
_GRACE_S = 2.0


class HostClient:
    """The pooled client the proxy calls hosts with; `open`/`close` follow the app's serving."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        self._client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20)
        )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def post(
        self, url: str, *, json: object, headers: dict[str, str], deadline_s: float
    ) -> httpx.Response:
        if self._client is not None:
            return await self._client.post(url, json=json, headers=headers, timeout=deadline_s)
        # Not serving through an ASGI lifespan (an app's test client): one client per call.
        async with httpx.AsyncClient(timeout=deadline_s) as client:
            return await client.post(url, json=json, headers=headers)


def route_proxy(
    status: DocumentCollection,
    authenticate: Callable[[str | None], Awaitable[str]],
    hosts: HostClient,
) -> Callable[[str, str], Awaitable[Response]]:
    """The view function of `/api/plugins/<plugin_id>/<path>`."""

    async def plugin_route(plugin_id: str, path: str = "") -> Response:
        user_id = await authenticate(request.headers.get("Authorization"))
        too_large = PayloadTooLarge(
            f"a plugin route takes at most {MAX_REQUEST_BYTES} bytes of JSON", field="body"
        )
        try:
            raw = await request.get_data()
        except RequestEntityTooLarge:
            # Over the gateway's own body limit: refused while reading, before our check.
            raise too_large from None
        if len(raw) > MAX_REQUEST_BYTES:
            raise too_large
        body: Any = None
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise ValidationFailed(
                    "the body of a plugin route call must be JSON", field="body"
                ) from None
        target = await _pick_host(status, plugin_id)
        envelope = {
            "method": request.method,
            "path": "/" + path,
            "user_id": user_id,
            # The last value of a repeated name, as HttpRequest documents.
            "query": {k: v[-1] for k, v in request.args.to_dict(flat=False).items() if v},
            "body": body,
        }
        timeout = float(target.get("route_timeout_s") or 5.0) + _GRACE_S
        url = f"{target['routes_url']}/internal/plugin-routes/{plugin_id}"
        try:
            answer = await hosts.post(
                url,
                json=envelope,
                headers={"Authorization": f"Bearer {target.get('route_secret', '')}"},
                deadline_s=timeout,
            )
        except httpx.TimeoutException:
            raise PluginTimeout(
                f"plugin {plugin_id!r}: its host {target.get('host')} did not answer "
                f"within {timeout:g} s",
                field="path",
            ) from None
        except httpx.TransportError as exc:
            raise PluginUnavailable(
                f"plugin {plugin_id!r}: its host {target.get('host')} cannot be reached "
                f"({type(exc).__name__})",
                field="plugin_id",
                retry_after_s=1,
            ) from None
        if len(answer.content) > MAX_RESPONSE_BYTES + 1024:
            raise PluginFailed(
                f"plugin {plugin_id!r}: its host answered {len(answer.content)} bytes "
                f"(at most {MAX_RESPONSE_BYTES})",
                field="path",
            )
        headers = {"Cache-Control": "no-store"}
        # The host's refusals carry Retry-After; a plugin's own answers never set headers.
        if "Retry-After" in answer.headers:
            headers["Retry-After"] = answer.headers["Retry-After"]
        return Response(
            answer.content,
            status=answer.status_code,
            content_type="application/json",
            headers=headers,
        )

    return plugin_route


async def _pick_host(status: DocumentCollection, plugin_id: str) -> dict[str, Any]:
    now = time.time()
    docs = [
        d
        for d in await status.find({"id": plugin_id})
        if now - float(d.get("updated_at", 0)) < _STALE_S
    ]
    if not docs:
        raise NotFound(f"no plugin host runs a plugin {plugin_id!r}", field="plugin_id")
    running = [d for d in docs if d.get("state") == "running" and d.get("routes_url")]
    if not running:
        doc = docs[0]
        error = doc.get("last_error") or ""
        raise PluginUnavailable(
            f"plugin {plugin_id!r} is {doc.get('state')}" + (f": {error}" if error else ""),
            field="plugin_id",
            retry_after_s=1,
        )
    # Hosts converge on one version; any running one answers, and the load spreads.
    return random.choice(running)
