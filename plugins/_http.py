"""`GET /api/plugins`: what the plugin hosts report, for the browser and scripts.

A Quart blueprint built here and handed to the gateway's app by `parley serve` (the roles
never import each other). The gateway and the plugin hosts are different processes, so the
list comes from what each host publishes to the store (collection plugin_status, once a
second); a host silent for 10 s is left out. Behind the same token check as the rest of
the API: `authenticate` is the gateway's, passed in as a callable.

    GET /api/plugins -> {"plugins": [{"id", "version", "commit", "state", "last_error",
                          "bot_user_id", "description", "hook_calls", "failures",
                          "restarts", "p50_ms", "p99_ms", "host", "browser_entry",
                          "ui_url", "routes": ["GET /stats", ...], "kind"}]}
        kind: "assistant" when the plugin's bot answers in turns (a host published its
        config to collection `assistants`), else "bot"; the browser's member picker says so
    GET /plugins/<id>/<ui version>/<file> -> a version's browser file, cached immutably (a
        file no version has is 404 not_found, field path)
    GET|POST|PUT|PATCH|DELETE /api/plugins/<id>/<path> -> the plugin's own route, run in a
        plugin host (see plugins._route_proxy for how, and the refusals it may answer)

Every failure is a `protocol.refusals` refusal, answered by the gateway's app; the OpenAPI
document (gateway.openapi) lists these routes with them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, request

from adapters import DocumentCollection
from protocol.refusals import NotFound

from ._route_proxy import METHODS, HostClient, route_proxy

if TYPE_CHECKING:
    from adapters import MongoStore

__all__ = ["plugins_blueprint"]

_STALE_S = 10.0
_FIELDS = (
    "id", "version", "commit", "state", "last_error", "bot_user_id", "description",
    "hook_calls", "failures", "restarts", "p50_ms", "p99_ms", "host", "browser_entry", "ui_url",
    "routes",
)  # fmt: skip


def plugins_blueprint(
    store: MongoStore, authenticate: Callable[[str | None], Awaitable[str]]
) -> Blueprint:
    """The plugin routes; `authenticate(Authorization header)` gives the caller's user id or
    raises a refusal (401)."""
    blueprint = Blueprint("plugins", __name__)
    status = DocumentCollection(store, "plugin_status")
    assets = DocumentCollection(store, "plugin_assets")
    assistants = DocumentCollection(store, "assistants")

    @blueprint.get("/api/plugins")
    async def list_plugins() -> Response:
        await authenticate(request.headers.get("Authorization"))
        now = time.time()
        docs = [d for d in await status.find({}) if now - float(d.get("updated_at", 0)) < _STALE_S]
        answering = {d.get("_id") for d in await assistants.find({})}
        plugins: list[dict[str, Any]] = [
            {
                **{k: d.get(k) for k in _FIELDS},
                "kind": "assistant" if d.get("bot_user_id") in answering else "bot",
            }
            for d in sorted(docs, key=lambda d: (str(d.get("id")), str(d.get("host"))))
        ]
        return Response(
            json.dumps({"plugins": plugins}),
            content_type="application/json",
            # The list is never cached: a new version must show at once (Grafana #41367).
            headers={"Cache-Control": "no-store"},
        )

    @blueprint.get("/plugins/<plugin_id>/<version>/<path:path>")
    async def ui_file(plugin_id: str, version: str, path: str) -> Response:
        # Public like the shell's own files (a module is fetched by import(), which sends no
        # token); immutable: a new version is a new URL, so it is cached for a year.
        doc = await assets.get(f"{plugin_id}/{version}/{path}")
        if doc is None:
            raise NotFound(
                f"plugin {plugin_id!r} version {version!r} has no browser file {path!r}",
                field="path",
            )
        return Response(
            bytes(doc["content"]),
            content_type=str(doc["content_type"]),
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    hosts = HostClient()
    blueprint.before_app_serving(hosts.open)
    blueprint.after_app_serving(hosts.close)
    proxy = route_proxy(status, authenticate, hosts)
    blueprint.add_url_rule("/api/plugins/<plugin_id>/", "plugin_route_root", proxy, methods=METHODS)
    blueprint.add_url_rule(
        "/api/plugins/<plugin_id>/<path:path>", "plugin_route", proxy, methods=METHODS
    )
    return blueprint
