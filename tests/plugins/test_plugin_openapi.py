"""The OpenAPI document lists every plugin route the gateway serves, and each route's
refusals are classes of protocol.refusals (what the wire answers is checked against it in
test_plugin_routes and tests/ops/test_plugin_switch)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

from quart_trio import QuartTrio

import protocol.refusals as refusals
from gateway.openapi import openapi_document
from gateway.operations import OPS_ROUTES
from plugins._http import plugins_blueprint

if TYPE_CHECKING:
    from adapters import MongoStore


def _template(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


async def _no_one(_header: str | None) -> str:
    raise AssertionError("never called: the routes are only listed")


def _served() -> set[tuple[str, str]]:
    app = QuartTrio("t")
    # The store is only used when a route is called; listing them needs none.
    app.register_blueprint(plugins_blueprint(cast("MongoStore", None), _no_one))
    served = {
        (method, _template(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("plugins.")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    served |= {(m, _template(r)) for m, r in OPS_ROUTES if "/plugins/" in r}
    return served


def test_every_plugin_route_is_documented() -> None:
    paths = openapi_document()["paths"]
    served = _served()
    assert ("POST", "/api/v1/ops/plugins/{plugin_id}/stop") in served
    assert ("GET", "/api/plugins/{plugin_id}/{path}") in served
    for method, path in sorted(served):
        # The route's root (an empty path) is the documented {path} left empty.
        path = path.replace("/{plugin_id}/", "/{plugin_id}/{path}") if path.endswith("}/") else path
        assert method.lower() in paths.get(path, {}), f"{method} {path} is not documented"


def _codes(response: dict[str, Any]) -> list[str]:
    [_, narrowed] = response["content"]["application/json"]["schema"]["allOf"]
    codes: list[str] = narrowed["properties"]["error"]["properties"]["code"]["enum"]
    return codes


def test_each_documented_refusal_is_a_refusal_class_with_that_status() -> None:
    by_code: dict[str, set[int]] = {}
    for name in refusals.__all__:
        cls = getattr(refusals, name)
        by_code.setdefault(cls.code, set()).add(cls.status)
    paths = openapi_document()["paths"]
    documented = 0
    for path, operations in paths.items():
        if "plugins" not in path:
            continue
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if not status.startswith(("4", "5")):
                    continue
                for code in _codes(response):
                    assert int(status) in by_code[code], (path, status, code)
                    documented += 1
    assert documented > 20
