"""Plugin routes without sockets: declaring and matching (plugins.api.Routes), the forwarded
call's checks, and run_route's outcomes with a loaded plugin and in-memory services.
The end-to-end path (gateway, host process, real store) is tests/plugins/test_plugin_routes.py.
"""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path

import pytest
import trio

from plugins._errors import PluginLoadError
from plugins._loader import load_plugin, unload
from plugins._route_host import EnvelopeError, RouteEnvelope, parse_envelope, run_route
from plugins._runtime import PluginSlot, PluginState, RuntimeDeps
from plugins.api import HttpRequest, PluginApiError, Routes
from tests.plugins._fakes import FakeServices, plugin_source

ROUTED = """\
import trio
from plugins.api import HttpResponse, Routes

routes = Routes()

@routes.get("/stats")
async def stats(ctx, request):
    await ctx.state.set("calls", (await ctx.state.get("calls", 0)) + 1)
    return {"calls": await ctx.state.get("calls"), "user": request.user_id}

@routes.get("/items/{name}")
async def item(ctx, request):
    return HttpResponse(202, {"name": request.params["name"], "q": dict(request.query)})

@routes.post("/boom")
async def boom(ctx, request):
    raise KeyError("nope")

@routes.get("/slow")
async def slow(ctx, request):
    await trio.sleep(60)

@routes.get("/not-json")
async def not_json(ctx, request):
    return {"a": object()}

@routes.get("/bad-status")
async def bad_status(ctx, request):
    return HttpResponse(1000, None)
"""


async def _handler(ctx: object, request: HttpRequest) -> None:
    return None


def test_routes_match_literal_before_named_segments() -> None:
    routes = Routes()

    @routes.get("/items/{name}")
    async def named(ctx: object, request: HttpRequest) -> None: ...

    @routes.get("/items/new")
    async def literal(ctx: object, request: HttpRequest) -> None: ...

    assert routes.match("GET", "/items/new") == (literal, {})
    assert routes.match("GET", "/items/apple") == (named, {"name": "apple"})
    assert routes.match("POST", "/items/apple") is None
    assert routes.match("GET", "/items/apple/more") is None
    assert routes.declared() == [("GET", "/items/{name}"), ("GET", "/items/new")]


@pytest.mark.parametrize(
    ("method", "pattern", "message"),
    [
        ("GET", "stats", r"^route pattern 'stats' must start with /$"),
        ("GET", "/a b", r"^route pattern '/a b': segment 'a b' is neither a literal .*$"),
        ("GET", "/{Bad}", r"^route pattern '/\{Bad\}': segment '\{Bad\}' is neither .*$"),
        ("HEAD", "/x", r"^route '/x': method must be one of GET, POST, PUT, PATCH, DELETE$"),
    ],
)
def test_bad_route_declarations_are_refused(method: str, pattern: str, message: str) -> None:
    with pytest.raises(PluginApiError, match=message):
        Routes().route(method, pattern)  # type: ignore[arg-type]


def test_a_route_declared_twice_or_not_async_is_refused() -> None:
    routes = Routes()
    routes.get("/x")(_handler)
    with pytest.raises(PluginApiError, match=r"^route GET /x is declared twice$"):
        routes.get("/x")(_handler)
    with pytest.raises(PluginApiError, match=r"^route GET /y: the handler must be an async def$"):
        routes.get("/y")(lambda ctx, request: None)  # type: ignore[arg-type,return-value]


def test_a_module_whose_routes_are_not_routes_is_refused(tmp_path: Path) -> None:
    source = plugin_source(tmp_path / "p", "routes = ['GET /x']\n")
    with pytest.raises(
        PluginLoadError, match=r"^echo: routes must be a plugins.api.Routes, not list$"
    ):
        load_plugin(source)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], r"^the route call must be a JSON object$"),
        ({"method": "TRACE"}, r"^method: must be one of GET, POST, PUT, PATCH, DELETE$"),
        ({"method": "GET", "path": "x"}, r"^path: must be a string starting with / .*$"),
        ({"method": "GET", "path": "/x"}, r"^user_id: must be a non-empty string$"),
        (
            {"method": "GET", "path": "/x", "user_id": "a", "query": {"n": 1}},
            r"^query: must be an object of strings$",
        ),
    ],
)
def test_a_malformed_forwarded_call_names_the_field(raw: object, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        parse_envelope(raw)


def _call(method: str, path: str, query: dict[str, str] | None = None) -> RouteEnvelope:
    return parse_envelope(
        {"method": method, "path": path, "user_id": "alice", "query": query or {}}
    )


async def test_run_route_outcomes(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    services = FakeServices()
    deps = RuntimeDeps(services)
    source = plugin_source(tmp_path / "p", ROUTED, runtime="[runtime]\nhook_timeout_s = 2\n")
    slot = PluginSlot("echo", loaded=load_plugin(source), state=PluginState.RUNNING)

    async def answer(call: RouteEnvelope) -> tuple[int, object]:
        out = await run_route("echo", slot, deps, call)
        return out.status, json.loads(out.body)

    assert await answer(_call("GET", "/stats")) == (200, {"calls": 1, "user": "alice"})
    assert await answer(_call("GET", "/stats")) == (200, {"calls": 2, "user": "alice"})
    assert await answer(_call("GET", "/items/pear", {"x": "1"})) == (
        202,
        {"name": "pear", "q": {"x": "1"}},
    )
    assert await answer(_call("GET", "/nothing")) == (
        404,
        {
            "error": {
                "code": "not_found",
                "message": "plugin 'echo' has no route GET /nothing",
                "field": "path",
            }
        },
    )
    assert await answer(_call("POST", "/boom")) == (
        500,
        {
            "error": {
                "code": "plugin_error",
                "message": "plugin 'echo': route POST /boom raised KeyError: 'nope'",
                "field": "path",
            }
        },
    )
    assert await answer(_call("GET", "/slow")) == (
        504,
        {
            "error": {
                "code": "plugin_timeout",
                "message": "plugin 'echo': route GET /slow did not answer within 2 s",
                "field": "path",
            }
        },
    )
    status, body = await answer(_call("GET", "/not-json"))
    assert status == 500
    assert body["error"]["message"].startswith(  # type: ignore[index]
        "plugin 'echo': route GET /not-json answered a body that is not JSON"
    )
    assert await answer(_call("GET", "/bad-status")) == (
        500,
        {
            "error": {
                "code": "plugin_error",
                "message": "plugin 'echo': route GET /bad-status answered status 1000 "
                "(an int from 100 to 599 is needed)",
                "field": "path",
            }
        },
    )
    # Route failures are answered and logged, never counted against the plugin.
    assert (slot.failures, slot.state) == (0, PluginState.RUNNING)
    assert any("raised KeyError" in line for line in slot.logs)

    slot.state, slot.last_error = PluginState.FAILED, "on_message raised ValueError: x"
    assert await answer(_call("GET", "/stats")) == (
        503,
        {
            "error": {
                "code": "plugin_unavailable",
                "message": "plugin 'echo' is failed: on_message raised ValueError: x",
                "field": "plugin_id",
                "retry_after_s": 1,
            }
        },
    )
    unavailable = await run_route("echo", slot, deps, _call("GET", "/stats"))
    assert unavailable.headers == {"Retry-After": "1"}
    missing = await run_route("other", None, deps, _call("GET", "/stats"))
    assert (missing.status, json.loads(missing.body)["error"]) == (
        404,
        {
            "code": "not_found",
            "message": "plugin 'other' is not loaded on this plugin host",
            "field": "plugin_id",
        },
    )


def test_unload_drops_the_routes_so_the_module_can_go(tmp_path: Path) -> None:
    loaded = load_plugin(plugin_source(tmp_path / "p", ROUTED))
    assert loaded.routes is not None
    module = weakref.ref(loaded.module)
    unload(loaded)
    assert loaded.routes is None
    del loaded
    gc.collect()
    assert module() is None
