"""Readiness and drain state shared by the HTTP app, the WebSocket listener and the core.

Each dependency (Kafka, the store, the OIDC keys) reports its own check; `/readyz` is true
only when every registered check passes and the process is not draining.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

__all__ = ["Readiness"]


@dataclass
class _Check:
    ok: bool = False
    detail: str = "not checked yet"


@dataclass
class Readiness:
    draining: trio.Event = field(default_factory=trio.Event)
    _checks: dict[str, _Check] = field(default_factory=dict)

    def register(self, name: str) -> None:
        self._checks.setdefault(name, _Check())

    def set(self, name: str, ok: bool, detail: str = "") -> None:
        self._checks[name] = _Check(ok, detail or ("ok" if ok else "failing"))

    @property
    def ready(self) -> bool:
        return not self.draining.is_set() and all(c.ok for c in self._checks.values())

    def report(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "draining": self.draining.is_set(),
            "checks": {n: {"ok": c.ok, "detail": c.detail} for n, c in self._checks.items()},
        }
