"""The verified identity behind a request or connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting, until when. Built only by ``TokenVerifier.verify``.

    ``user_id`` is the token's ``sub``; ``expires_at`` its ``exp`` in Unix seconds (wall
    clock); ``claims`` the whole verified claim set, read-only.
    """

    user_id: str
    expires_at: float
    claims: Mapping[str, Any]
