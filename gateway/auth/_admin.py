"""Who is an operator: a verified token whose admin claim carries the admin value."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.auth._principal import Principal

__all__ = ["is_admin"]


def is_admin(principal: Principal, claim: str, value: str) -> bool:
    """True when the claim equals `value`, or is a list (roles, groups) that holds it.

    Only exact matches count: a provider's `"administrators"` or `"admin "` never grants
    `"admin"`, and an empty claim name or value grants nothing.
    """
    if not claim or not value:
        return False
    held = principal.claims.get(claim)
    if isinstance(held, str):
        return held == value
    if isinstance(held, list | tuple):
        return any(isinstance(item, str) and item == value for item in held)
    return False
