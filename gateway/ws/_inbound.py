"""What a transport's reader (and the hub) hand to the ConnectionActor's inbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.ws._errors import CommandInvalid
from gateway.ws.protocol import Command

__all__ = ["Inbound", "Removed"]


@dataclass(frozen=True, slots=True)
class Removed:
    """The hub dropped a subscription because a MembershipEvent removed the user."""

    thread_id: str
    offline: bool
    type: Literal["removed"] = "removed"


Inbound = Command | CommandInvalid | Removed
