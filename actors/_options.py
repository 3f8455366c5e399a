"""The keyword options of the spawning calls, written once for the system and supervisors.

`ActorSystem` forwards its spawning calls to its root supervisor; these TypedDicts let it
take the same keywords (checked by mypy) without repeating every default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from ._policy import Backoff, Restart, Strategy
    from ._supervisor import ChildSpec

__all__ = ["RegistryOptions", "SpawnOptions", "SupervisorOptions"]


class SpawnOptions(TypedDict, total=False):
    name: str | None
    restart: Restart
    shutdown: float | None


class SupervisorOptions(TypedDict, total=False):
    strategy: Strategy
    children: Sequence[ChildSpec]
    max_restarts: int
    within: float
    backoff: Backoff | None
    restart: Restart
    shutdown: float


class RegistryOptions(TypedDict, total=False):
    idle_timeout: float | None
    max_restarts: int
    within: float
    backoff: Backoff | None
    child_shutdown: float | None
    restart: Restart
    shutdown: float
