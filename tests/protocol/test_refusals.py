"""The refusal tree: its drawing is exact, and its wire values are the ones clients rely on."""

from __future__ import annotations

import json
import re

import pytest

import protocol.refusals as refusals
from protocol.refusals import Forbidden, PayloadTooLarge, Refusal, ValidationFailed

# One drawn row: tree prefix, class name, HTTP status, close code, machine code.
_ROW = re.compile(
    r"^    (?P<prefix>[│├└─ ]*)(?P<name>\w+)\s+(?P<status>\d{3})\s+(?P<close>\d{4})\s+(?P<code>\w+)"
)


def _drawn() -> dict[str, tuple[str | None, int, int, str]]:
    """Each drawn class → (drawn parent, status, close code, code)."""
    assert refusals.__doc__ is not None
    rows: dict[str, tuple[str | None, int, int, str]] = {}
    path: list[str] = []
    for line in refusals.__doc__.splitlines():
        row = _ROW.match(line)
        if row is None:
            continue
        depth = len(row["prefix"]) // 4
        del path[depth:]
        parent = path[-1] if path else None
        path.append(row["name"])
        rows[row["name"]] = (parent, int(row["status"]), int(row["close"]), row["code"])
    return rows


def _defined() -> list[type[Refusal]]:
    found: list[type[Refusal]] = [Refusal]
    for cls in found:
        found.extend(c for c in cls.__subclasses__() if c.__module__ == refusals.__name__)
    return found


def test_the_docstring_draws_every_class_with_its_parent_and_codes() -> None:
    drawn = _drawn()
    assert sorted(drawn) == sorted(cls.__name__ for cls in _defined())
    assert sorted(drawn) == sorted(refusals.__all__)
    for cls in _defined():
        parent = None if cls is Refusal else cls.__bases__[0].__name__
        assert drawn[cls.__name__] == (parent, cls.status, cls.close_code, cls.code), cls


def test_every_class_says_when_it_is_raised() -> None:
    for cls in _defined():
        assert cls.__doc__ is not None and "raised" in cls.__doc__.lower(), cls


# What the API answers today; external clients and the pipeline tests rely on these.
WIRE = {
    "AuthError": (401, 1008, "unauthenticated"),
    "InvalidToken": (401, 1008, "invalid_token"),
    "MissingToken": (401, 1008, "missing_token"),
    "MalformedToken": (401, 1008, "invalid_token"),
    "UnsafeTokenHeader": (401, 1008, "invalid_token"),
    "UnknownSigningKey": (401, 1008, "invalid_token"),
    "BadSignature": (401, 1008, "invalid_token"),
    "ExpiredToken": (401, 1008, "token_expired"),
    "ClaimRejected": (401, 1008, "invalid_token"),
    "WrongTokenType": (401, 1008, "invalid_token"),
    "AuthFrameRejected": (401, 1008, "auth_required"),
    "AuthTimeout": (401, 1008, "auth_timeout"),
    "PrincipalMismatch": (401, 1008, "principal_mismatch"),
    "ProviderUnavailable": (503, 1013, "identity_unavailable"),
    "OriginRejected": (403, 1008, "origin_rejected"),
    "RateLimited": (429, 1008, "rate_limited"),
    "TooManyConnections": (429, 1008, "too_many_connections"),
    "ValidationFailed": (422, 1007, "invalid"),
    "Forbidden": (403, 1008, "forbidden"),
    "NotFound": (404, 1008, "not_found"),
    "Conflict": (409, 1008, "conflict"),
    "PayloadTooLarge": (413, 1009, "too_large"),
    "Unavailable": (503, 1013, "unavailable"),
    "PluginUnavailable": (503, 1013, "plugin_unavailable"),
    "PluginFailed": (500, 1011, "plugin_error"),
    "PluginTimeout": (504, 1011, "plugin_timeout"),
}


@pytest.mark.parametrize(("name", "wire"), sorted(WIRE.items()))
def test_wire_values_do_not_change(name: str, wire: tuple[int, int, str]) -> None:
    cls = getattr(refusals, name)
    assert (cls.status, cls.close_code, cls.code) == wire


def test_forbidden_names_the_field_and_gives_no_hint() -> None:
    refusal = Forbidden("you are not a member of this thread", field="thread_id")
    assert json.loads(refusal.to_json()) == {
        "error": {
            "code": "forbidden",
            "message": "you are not a member of this thread",
            "field": "thread_id",
        }
    }
    assert json.loads(refusal.to_ws_frame()) == {
        "type": "error",
        "code": "forbidden",
        "message": "you are not a member of this thread",
        "field": "thread_id",
    }
    assert refusal.headers() == {}


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    refusal = ValidationFailed("busy", retry_after_s=0.2)
    assert refusal.headers() == {"Retry-After": "1"}
    assert json.loads(refusal.to_json())["error"]["retry_after_s"] == 0.2


def test_close_reason_fits_a_close_frame() -> None:
    refusal = PayloadTooLarge("é" * 200)
    assert len(refusal.close_reason.encode()) <= 123
    assert refusal.close_reason.startswith("too_large: é")
