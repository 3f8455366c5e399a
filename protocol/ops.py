"""What Parley processes tell each other about themselves: announcements and operator commands.

Both travel through the store (collections ``processes`` and ``ops_commands``), so they sit on
the bottom floor beside ``protocol.events``: every role writes or reads them, and a rolling
deploy of mixed versions must keep understanding them (unknown fields are ignored, missing
ones take defaults).

    ProcessAnnouncement   one per process, rewritten every heartbeat (``_id`` = process id):
                          role, version, start time, partitions owned, connections, thread
                          actors, readiness, the supervision tree as ActorSystem.snapshot()
                          gives it, and a few figures for charts (`stats`). A process that
                          stops announcing is *gone*; one that drained says *stopped* in its
                          last announcement.
    OpsCommand            an operator's request to one process (drain, restart a subtree),
                          with who asked; the target takes it at its next heartbeat and
                          writes the outcome back into the same document.
    PluginSwitch          an operator's stop or start of a plugin (``_id`` = plugin id), for
                          the whole deployment: a desired state rather than a command to one
                          process, so a plugin host started later (or restarted) obeys it too.

Times are Unix seconds (wall clock): they are compared across machines.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

__all__ = [
    "CommandKind",
    "CommandState",
    "Liveness",
    "OpsCommand",
    "PluginSwitch",
    "ProcessAnnouncement",
]


class Liveness(enum.StrEnum):
    """How a process looks from outside, judged from its last announcement."""

    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"  # drained and said so
    GONE = "gone"  # stopped announcing without saying goodbye (SIGKILL, a lost host)


class CommandKind(enum.StrEnum):
    DRAIN = "drain"
    RESTART = "restart"


class CommandState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ProcessAnnouncement:
    """One process's heartbeat document."""

    process_id: str
    role: str
    version: str
    started_at: float
    heartbeat_at: float
    state: Liveness = Liveness.RUNNING
    http_url: str = ""
    partitions: dict[str, list[str]] = field(default_factory=dict)
    connections: int = 0
    threads: int = 0
    plugins: list[dict[str, Any]] = field(default_factory=list)
    readiness: dict[str, Any] = field(default_factory=dict)
    actors: list[dict[str, Any]] = field(default_factory=list)
    # Figures for the operator page's charts: totals (messages ingested and persisted, actor
    # restarts), now (consumer lag), and end-to-end p50/p99 over the last heartbeat interval.
    stats: dict[str, float] = field(default_factory=dict)

    def liveness(self, now: float, timeout_s: float) -> Liveness:
        """STOPPED if it said goodbye; GONE if silent longer than `timeout_s`; else its state."""
        if self.state is Liveness.STOPPED:
            return Liveness.STOPPED
        if now - self.heartbeat_at > timeout_s:
            return Liveness.GONE
        return self.state

    def summary(self, now: float, timeout_s: float) -> dict[str, Any]:
        """The row `GET /api/v1/ops/processes` lists: everything but the tree and readiness."""
        return {
            "id": self.process_id,
            "role": self.role,
            "version": self.version,
            "state": self.liveness(now, timeout_s).value,
            "started_at": self.started_at,
            "heartbeat_at": self.heartbeat_at,
            "heartbeat_age_s": round(max(0.0, now - self.heartbeat_at), 3),
            "http_url": self.http_url,
            "partitions": self.partitions,
            "connections": self.connections,
            "threads": self.threads,
            "plugins": self.plugins,
            "stats": self.stats,
        }

    def to_doc(self) -> dict[str, Any]:
        # Shallow: the nested values are the announcer's fresh JSON-shaped data, only read
        # from here on. asdict()'s deep copy of the actor tree took 3-8 ms of each heartbeat.
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["_id"] = doc.pop("process_id")
        doc["state"] = self.state.value
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ProcessAnnouncement:
        try:
            state = Liveness(doc.get("state", "running"))
        except ValueError:
            state = Liveness.RUNNING
        return cls(
            process_id=str(doc["_id"]),
            role=str(doc.get("role", "")),
            version=str(doc.get("version", "")),
            started_at=float(doc.get("started_at", 0.0)),
            heartbeat_at=float(doc.get("heartbeat_at", 0.0)),
            state=state,
            http_url=str(doc.get("http_url", "")),
            partitions={str(k): [str(p) for p in v] for k, v in doc.get("partitions", {}).items()},
            connections=int(doc.get("connections", 0)),
            threads=int(doc.get("threads", 0)),
            plugins=list(doc.get("plugins", [])),
            readiness=dict(doc.get("readiness", {})),
            actors=list(doc.get("actors", [])),
            stats={str(k): float(v) for k, v in doc.get("stats", {}).items()},
        )


@dataclass(frozen=True, slots=True)
class OpsCommand:
    """An operator's request to one process, and (once taken) its outcome."""

    command_id: str
    process_id: str
    kind: CommandKind
    asked_by: str
    asked_at: float
    path: str = ""
    state: CommandState = CommandState.PENDING
    outcome: str = ""
    # The refusal code when FAILED (not_found, not_restartable...), so the API answers alike.
    error_code: str = ""
    done_at: float | None = None

    @classmethod
    def new(
        cls, process_id: str, kind: CommandKind, asked_by: str, now: float, path: str = ""
    ) -> OpsCommand:
        return cls(
            command_id=f"cmd_{uuid.uuid4().hex}",
            process_id=process_id,
            kind=kind,
            asked_by=asked_by,
            asked_at=now,
            path=path,
        )

    def finished(self, ok: bool, outcome: str, now: float, error_code: str = "") -> OpsCommand:
        state = CommandState.DONE if ok else CommandState.FAILED
        return replace(self, state=state, outcome=outcome, error_code=error_code, done_at=now)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = self.kind.value
        out["state"] = self.state.value
        return out

    def to_doc(self) -> dict[str, Any]:
        doc = self.to_json()
        doc["_id"] = doc.pop("command_id")
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> OpsCommand:
        done_at = doc.get("done_at")
        return cls(
            command_id=str(doc["_id"]),
            process_id=str(doc["process_id"]),
            kind=CommandKind(doc["kind"]),
            asked_by=str(doc.get("asked_by", "")),
            asked_at=float(doc.get("asked_at", 0.0)),
            path=str(doc.get("path", "")),
            state=CommandState(doc.get("state", "pending")),
            outcome=str(doc.get("outcome", "")),
            error_code=str(doc.get("error_code", "")),
            done_at=None if done_at is None else float(done_at),
        )


@dataclass(frozen=True, slots=True)
class PluginSwitch:
    """Whether a plugin should run on every plugin host, and who said so."""

    plugin_id: str
    running: bool
    asked_by: str
    asked_at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_doc(self) -> dict[str, Any]:
        doc = self.to_json()
        doc["_id"] = doc.pop("plugin_id")
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PluginSwitch:
        return cls(
            plugin_id=str(doc["_id"]),
            running=bool(doc.get("running", True)),
            asked_by=str(doc.get("asked_by", "")),
            asked_at=float(doc.get("asked_at", 0.0)),
        )
