"""is_admin: only an exact value of the configured claim, as a string or in a list, counts."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.auth import Principal, is_admin


def _principal(**claims: Any) -> Principal:
    return Principal(user_id="u", expires_at=0.0, claims={"sub": "u", **claims})


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"parley_roles": ["admin"]}, True),
        ({"parley_roles": ["user", "admin"]}, True),
        ({"parley_roles": "admin"}, True),
        ({"parley_roles": ["administrators"]}, False),
        ({"parley_roles": "admin "}, False),
        ({"parley_roles": ["Admin"]}, False),
        ({"parley_roles": [["admin"]]}, False),
        ({"parley_roles": {"admin": True}}, False),
        ({"parley_roles": True}, False),
        ({"roles": ["admin"]}, False),
        ({}, False),
    ],
)
def test_admin_claim(claims: dict[str, Any], expected: bool) -> None:
    assert is_admin(_principal(**claims), "parley_roles", "admin") is expected


def test_an_empty_claim_name_or_value_grants_nothing() -> None:
    principal = _principal(**{"": "", "parley_roles": ""})
    assert is_admin(principal, "", "") is False
    assert is_admin(principal, "parley_roles", "") is False
