"""ProcessStatus: what one process says about itself, gathered before any role starts.

Every role of a process (gateway, core) adds its readiness probes, gauges, snapshot
sections and owned partitions here while it is assembled; `/readyz`, `/metrics`,
`/api/v1/server` and the process's announcement read it.
A process has exactly one, built by `parley serve` and handed down, so no role reaches up.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telemetry.metrics import Metrics
from telemetry.readiness import Readiness

__all__ = ["Probe", "ProcessStatus", "process_id"]

# A readiness probe: (ok, one sentence saying why).
Probe = Callable[[], tuple[bool, str]]


def process_id(configured: str = "") -> str:
    """The name this process announces itself with: the configured one, else host-pid."""
    return configured or f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class ProcessStatus:
    role: str
    process_id: str
    metrics: Metrics = field(default_factory=Metrics)
    readiness: Readiness = field(default_factory=Readiness)
    _probes: dict[str, Probe] = field(default_factory=dict)
    _gauges: list[Callable[[], None]] = field(default_factory=list)
    _scrape_gauges: list[Callable[[], None]] = field(default_factory=list)
    _sections: list[Callable[[], dict[str, Any]]] = field(default_factory=list)
    _partitions: dict[str, Callable[[], list[str]]] = field(default_factory=dict)
    _plugins: list[Callable[[], list[dict[str, Any]]]] = field(default_factory=list)

    def add_probe(self, name: str, probe: Probe) -> None:
        """A readiness check polled by the process's readiness watch (`poll_probes`)."""
        self.readiness.register(name)
        self._probes[name] = probe

    def add_gauges(self, refresh: Callable[[], None], *, scrape_only: bool = False) -> None:
        """Sets gauges from live state just before `/metrics` is read and, unless
        `scrape_only` (a refresh that walks every actor: milliseconds with the event loop
        stopped), before each heartbeat of the process's announcement."""
        (self._scrape_gauges if scrape_only else self._gauges).append(refresh)

    def add_snapshot_section(self, section: Callable[[], dict[str, Any]]) -> None:
        """Adds keys to the `/api/v1/server` snapshot."""
        self._sections.append(section)

    def add_partitions(self, label: str, owned: Callable[[], list[str]]) -> None:
        """The Kafka partitions one of this process's consumers owns ("topic[n]"), by label
        ("commands", "events"); the process's announcement lists them."""
        self._partitions[label] = owned

    def partitions(self) -> dict[str, list[str]]:
        return {label: owned() for label, owned in self._partitions.items()}

    def add_plugins(self, report: Callable[[], list[dict[str, Any]]]) -> None:
        """The plugins this process runs (id, version, state...), for its announcement; the
        plugin host adds one report."""
        self._plugins.append(report)

    def plugins(self) -> list[dict[str, Any]]:
        return [plugin for report in self._plugins for plugin in report()]

    def poll_probes(self) -> None:
        for name, probe in self._probes.items():
            ok, detail = probe()
            self.readiness.set(name, ok, detail)

    def refresh_gauges(self, *, scrape: bool = True) -> None:
        """All gauges for a scrape; without `scrape`, only those cheap enough for every
        heartbeat."""
        for refresh in self._gauges:
            refresh()
        if scrape:
            for refresh in self._scrape_gauges:
                refresh()

    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = {
            "gateway_id": self.process_id,
            "role": self.role,
            "readiness": self.readiness.report(),
        }
        for section in self._sections:
            snap.update(section())
        return snap
