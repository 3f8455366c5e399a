"""Every refusal a live route answered is one the OpenAPI document lists for that route."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.openapi import openapi_document

__all__ = ["assert_documented"]


def _codes(schema: dict[str, Any]) -> set[str]:
    for part in schema.get("allOf", []):
        code = part.get("properties", {}).get("error", {}).get("properties", {}).get("code", {})
        if "enum" in code:
            return set(code["enum"])
    return set()


def assert_documented(method: str, path: str, answer: httpx.Response) -> dict[str, Any]:
    """`answer` to `method path` (an OpenAPI path template) is a refusal whose status and code
    the document lists for that operation; returns the refusal's `error` object."""
    operation = openapi_document()["paths"][path][method.lower()]
    error = answer.json()["error"]
    assert isinstance(error, dict), answer.text
    response = operation["responses"].get(str(answer.status_code))
    assert response is not None, f"{method} {path}: {answer.status_code} not documented"
    codes = _codes(response["content"]["application/json"]["schema"])
    assert error["code"] in codes, f"{method} {path}: {error['code']} not in {sorted(codes)}"
    return error
