"""The gateway's side of plugin HTTP routes: `/api/plugins/<id>/<path>` to a plugin host.

    client ──token──▶ gateway: authenticate, check the body, pick a host running the plugin
                      (from plugin_status), POST the call to the host's internal endpoint
                      ──▶ plugin host: run the handler within hook_timeout_s (_route_host)
    client ◀── the route's status and JSON body (or a refusal, see below)

Outcomes the caller can tell apart (bodies are `{"error": {"code", "message"}}`):

    401  no or a bad token (the gateway's own check, as for every API route)
    404  not_found            no host reports the plugin, or the plugin has no such route
    413  too_large            a body over 64 KiB
    422  invalid              a body that is not JSON
    500  plugin_error         the handler raised or answered something that is not JSON
    503  unavailable          the plugin is failed/refused/stopped (with its last error), or
         plugin_unavailable   its host could not be reached
    504  plugin_timeout       the handler overran its deadline, or the host did not answer
                              within the deadline plus a grace (a busy-looping host)

One pooled httpx client per gateway app, opened and closed with the app's serving lifespan:
a fresh client per call was measured at 270-890 ms per call on the shared test machine (it
builds a TLS context each time) against 10-85 ms for the host's own answer.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
from quart import Response, request

from adapters import DocumentCollection
from protocol.refusals import NotFound, PayloadTooLarge, Unavailable, ValidationFailed

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
        raw = await request.get_data()
        if len(raw) > MAX_REQUEST_BYTES:
            raise PayloadTooLarge(
                f"a plugin route takes at most {MAX_REQUEST_BYTES} bytes of JSON", field="body"
            )
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
            return _error(
                504,
                "plugin_timeout",
                f"plugin {plugin_id!r}: its host {target.get('host')} did not answer "
                f"within {timeout:g} s",
            )
        except httpx.TransportError as exc:
            raise Unavailable(
                f"plugin {plugin_id!r}: its host {target.get('host')} cannot be reached "
                f"({type(exc).__name__})",
                retry_after_s=1,
            ) from None
        if len(answer.content) > MAX_RESPONSE_BYTES + 1024:
            return _error(502, "plugin_error", f"plugin {plugin_id!r}: the answer is too large")
        return Response(
            answer.content,
            status=answer.status_code,
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
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
        raise Unavailable(
            f"plugin {plugin_id!r} is {doc.get('state')}" + (f": {error}" if error else ""),
            retry_after_s=1,
        )
    # Hosts converge on one version; any running one answers, and the load spreads.
    return random.choice(running)


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        json.dumps({"error": {"code": code, "message": message}}),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
