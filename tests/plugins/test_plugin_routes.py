"""Plugin HTTP routes end to end: a gateway+core process, a plugin host process, real
Kafka, FerretDB, OIDC provider and Git. The gateway checks the token, finds the host in the
store's plugin_status and forwards the call; the host runs the handler within its deadline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from config.settings import Settings
from plugins._settings import Mode
from plugins._workspace import Workspace
from tests.plugins.conftest import PluginHostProcess
from tests.support.documented import assert_documented
from tests.support.server import ParleyProcess

pytestmark = pytest.mark.integration

MANIFEST = """\
id = "routed"
version = "0.3.0"
api_version = 1
[server]
entry = "server.py"
[runtime]
hook_timeout_s = 1.0
"""

SERVER = """\
import trio

from plugins.api import Context, HttpRequest, HttpResponse, Routes

routes = Routes()


@routes.get("/hello")
async def hello(ctx: Context, request: HttpRequest):
    return {"user": request.user_id, "query": dict(request.query), "version": ctx.version}


@routes.post("/items/{name}")
async def store_item(ctx: Context, request: HttpRequest) -> HttpResponse:
    await ctx.state.set("item:" + request.params["name"], request.body)
    return HttpResponse(201, {"stored": await ctx.state.get("item:" + request.params["name"])})


@routes.get("/boom")
async def boom(ctx: Context, request: HttpRequest):
    raise ValueError("no luck today")


@routes.get("/hang")
async def hang(ctx: Context, request: HttpRequest):
    await trio.sleep_forever()
"""


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


_ROUTE = "/api/plugins/{plugin_id}/{path}"


def _error(answer: httpx.Response, method: str = "GET", path: str = _ROUTE) -> dict[str, Any]:
    """The refusal's error object, once checked to be one the OpenAPI document lists."""
    assert answer.headers["content-type"].startswith("application/json"), answer.text
    return assert_documented(method, path, answer)


async def _wait_for_route(http: httpx.AsyncClient, token: str) -> httpx.Response:
    """The host publishes its status once a second: wait until the gateway finds it."""
    with trio.fail_after(60):
        while True:
            answer = await http.get(
                "/api/plugins/routed/hello", params={"x": "1"}, headers=_auth(token)
            )
            if answer.status_code != 404:
                return answer
            await trio.sleep(0.2)


async def test_plugin_routes_through_the_gateway(
    chat_server: ParleyProcess, chat_settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    workspace = Workspace(tmp_path / "ws", Mode.DEV, tmp_path / "cache")
    await workspace.ensure()
    (workspace.path / "routed").mkdir()
    (workspace.path / "routed" / "plugin.toml").write_text(MANIFEST)
    (workspace.path / "routed" / "server.py").write_text(SERVER)
    await workspace.commit_all("add routed")

    host = PluginHostProcess(chat_settings, log_dir=tmp_path, workspace=workspace.path)
    host.start()
    try:
        token = tokens["alice"]
        async with httpx.AsyncClient(base_url=chat_server.http_url, timeout=15) as http:
            # The same token check as the rest of the API, before anything is forwarded.
            unauthenticated = await http.get("/api/plugins/routed/hello")
            assert unauthenticated.status_code == 401
            assert _error(unauthenticated)["code"] == "missing_token"
            bad_token = await http.get("/api/plugins/routed/hello", headers=_auth("nope"))
            assert bad_token.status_code == 401
            assert _error(bad_token)["code"] == "invalid_token"
            unlisted = await http.get("/api/plugins")
            assert _error(unlisted, path="/api/plugins")["code"] == "missing_token"

            hello = await _wait_for_route(http, token)
            assert hello.status_code == 200, hello.text
            assert hello.json() == {"user": "alice", "query": {"x": "1"}, "version": "0.3.0"}
            assert hello.headers["cache-control"] == "no-store"

            stored = await http.post(
                "/api/plugins/routed/items/apple", json={"n": [1, 2]}, headers=_auth(token)
            )
            assert stored.status_code == 201, stored.text
            assert stored.json() == {"stored": {"n": [1, 2]}}

            # The plugin list names the routes (and never the hosts' internal secret).
            listed = await http.get("/api/plugins", headers=_auth(token))
            [routed] = [p for p in listed.json()["plugins"] if p["id"] == "routed"]
            assert routed["routes"] == [
                "GET /hello",
                "POST /items/{name}",
                "GET /boom",
                "GET /hang",
            ]
            assert "route_secret" not in routed

            unknown = await http.get("/api/plugins/nope/hello", headers=_auth(token))
            assert unknown.status_code == 404
            assert _error(unknown) == {
                "code": "not_found",
                "message": "no plugin host runs a plugin 'nope'",
                "field": "plugin_id",
            }

            no_route = await http.get("/api/plugins/routed/missing", headers=_auth(token))
            assert no_route.status_code == 404
            assert _error(no_route) == {
                "code": "not_found",
                "message": "plugin 'routed' has no route GET /missing",
                "field": "path",
            }

            not_json = await http.post(
                "/api/plugins/routed/items/pear",
                content=b"{not json",
                headers={**_auth(token), "Content-Type": "application/json"},
            )
            assert not_json.status_code == 422
            assert _error(not_json, "POST") == {
                "code": "invalid",
                "message": "the body of a plugin route call must be JSON",
                "field": "body",
            }

            # Over the gateway's own body limit too (also 64 KiB), which refuses it while
            # reading: still the plugin route's refusal, naming the field.
            too_large = await http.post(
                "/api/plugins/routed/items/pear",
                json={"blob": "x" * (70 * 1024)},
                headers=_auth(token),
            )
            assert too_large.status_code == 413
            assert _error(too_large, "POST") == {
                "code": "too_large",
                "message": "a plugin route takes at most 65536 bytes of JSON",
                "field": "body",
            }

            boom = await http.get("/api/plugins/routed/boom", headers=_auth(token))
            assert boom.status_code == 500
            assert _error(boom) == {
                "code": "plugin_error",
                "message": "plugin 'routed': route GET /boom raised ValueError: no luck today",
                "field": "path",
            }

            hang = await http.get("/api/plugins/routed/hang", headers=_auth(token))
            assert hang.status_code == 504
            assert _error(hang) == {
                "code": "plugin_timeout",
                "message": "plugin 'routed': route GET /hang did not answer within 1 s",
                "field": "path",
            }

            # Neither failure counts against the plugin: it runs on and answers.
            again = await http.get("/api/plugins/routed/hello", headers=_auth(token))
            assert again.status_code == 200, again.text
            listed = await http.get("/api/plugins", headers=_auth(token))
            [routed] = [p for p in listed.json()["plugins"] if p["id"] == "routed"]
            assert routed["state"] == "running"
            assert routed["failures"] == 0

            # A figure for the report (printed, not asserted): a route call end to end.
            took: list[float] = []
            for _ in range(100):
                started = trio.current_time()
                answer = await http.get("/api/plugins/routed/hello", headers=_auth(token))
                took.append(trio.current_time() - started)
                assert answer.status_code == 200
            took.sort()
            print(
                f"route call through the gateway: p50 {took[49] * 1000:.1f} ms, "
                f"p99 {took[98] * 1000:.1f} ms (100 sequential calls)"
            )

            # Straight to the host, without the gateway's secret: refused.
            direct = await http.post(
                f"{host.http_url}/internal/plugin-routes/routed",
                json={"method": "GET", "path": "/hello", "user_id": "mallory"},
            )
            assert direct.status_code == 401
            assert direct.json()["error"]["code"] == "unauthenticated"
    finally:
        host.stop()

    # The host is gone: once its status is stale the plugin is unknown again (404), and
    # until then the gateway cannot reach it (503); never a hang.
    async with httpx.AsyncClient(base_url=chat_server.http_url, timeout=15) as http:
        gone = await http.get("/api/plugins/routed/hello", headers=_auth(tokens["alice"]))
        assert gone.status_code in (404, 503), gone.text
        error = _error(gone)
        assert error["code"] in ("not_found", "plugin_unavailable"), error
        assert error["field"] == "plugin_id"
